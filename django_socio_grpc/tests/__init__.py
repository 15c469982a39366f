"""django-socio-grpc's test helpers at their documented path (`tests.grpc_test_utils.fake_grpc`)."""
