"""`fake_grpc`: `FakeFullAIOGRPC`, `FakeGRPC` (and the deprecated `FakeAIOGRPC`), real underneath."""
