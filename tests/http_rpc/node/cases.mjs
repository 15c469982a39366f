// Every case the HTTP RPC routes must pass with the real Connect clients for Node
// (@connectrpc/connect-node, HTTP/1.1): `node cases.mjs <base url> <FileDescriptorSet file>`.
// Prints one JSON object: {"<transport>:<case>": "ok" | "<what went wrong>"}; exits 0.
import { readFileSync } from "node:fs";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";

const [baseUrl, schemaPath] = process.argv.slice(2);
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(schemaPath)));
const probeService = registry.getService("testproject.testapp.ProbeServiceController");
const webService = registry.getService("test.Web");

function check(condition, what) {
  if (!condition) throw new Error(what);
}

async function failsWith(call, code, messagePart) {
  try {
    await call();
  } catch (error) {
    const err = ConnectError.from(error);
    check(err.code === code, `expected ${Code[code]}, got ${Code[err.code]}: ${err.rawMessage}`);
    if (messagePart) check(err.rawMessage.includes(messagePart), `message ${JSON.stringify(err.rawMessage)}`);
    return err;
  }
  throw new Error(`expected ${Code[code]}, the call succeeded`);
}

async function collect(stream) {
  const items = [];
  for await (const item of stream) items.push(item);
  return items;
}

const cases = {
  async unaryAsync(probe) {
    const reply = await probe.echo({ message: "hi", count: 3 });
    check(reply.message === "hi" && reply.count === 3 && reply.thread === "before:Echo", JSON.stringify(reply));
  },
  async unaryDef(probe) {
    const reply = await probe.syncEcho({ message: "sync" });
    check(reply.message === "sync" && reply.thread === "before:SyncEcho", JSON.stringify(reply));
  },
  async serverStreamAsync(probe) {
    const items = await collect(probe.streamAsync({ message: "a", count: 3 }));
    check(items.map((item) => item.message).join(",") === "a0,a1,a2", JSON.stringify(items));
  },
  async serverStreamDef(probe) {
    const items = await collect(probe.streamSync({ message: "s", count: 3 }));
    check(items.map((item) => item.message).join(",") === "s0,s1,s2", JSON.stringify(items));
  },
  async streamErrorAfterMessages(probe) {
    const items = [];
    await failsWith(async () => { for await (const item of probe.streamAsync({ message: "fail", count: 2 })) items.push(item); },
      Code.InvalidArgument, "stream failed");
    check(items.length === 2, `${items.length} messages before the error`);
  },
  async errorNotFound(probe) {
    await failsWith(() => probe.fail({ message: "not_found" }), Code.NotFound, "no such thing");
  },
  async errorDefPermission(probe) {
    await failsWith(() => probe.syncFail({ message: "permission" }), Code.PermissionDenied);
  },
  async errorHidesInternals(probe) {
    const err = await failsWith(() => probe.syncFail({ message: "boom" }), Code.Unknown);
    check(err.rawMessage === "ValueError", err.rawMessage);
  },
  async deadline(probe) {
    await failsWith(() => probe.asyncSleep({ seconds: 5 }, { timeoutMs: 200 }), Code.DeadlineExceeded);
  },
  async metadataBothWays(probe, web) {
    let headers, trailers;
    const reply = await web.meta({}, {
      headers: { "x-ask": "from node", "x-data-bin": "AAEC" },
      onHeader: (h) => { headers = h; },
      onTrailer: (t) => { trailers = t; },
    });
    check(reply.message === "from node" && reply.count === 3, JSON.stringify(reply));
    check(headers.get("x-initial") === "early", `header ${headers.get("x-initial")}`);
    check(trailers.get("x-trailer") === "late", `trailer ${trailers.get("x-trailer")}`);
  },
  async gzipRequest(probe) {
    const reply = await probe.echo({ message: "g".repeat(5000) });
    check(reply.message.length === 5000, `${reply.message.length}`);
  },
  async clientStreamUnimplemented(probe) {
    async function* requests() { yield { message: "a" }; yield { message: "b" }; }
    await failsWith(() => probe.collectAsync(requests()), Code.Unimplemented);
  },
};

const transports = {
  connect: (json) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: !json,
    sendCompression: compressionGzip, compressMinBytes: 1024 }),
  grpcweb: () => createGrpcWebTransport({ baseUrl, httpVersion: "1.1", sendCompression: compressionGzip,
    compressMinBytes: 1024 }),
};

const results = {};
for (const [name, make] of [["connect-json", () => transports.connect(true)], ["connect-proto", () => transports.connect(false)],
                            ["grpcweb", transports.grpcweb]]) {
  const transport = make();
  const probe = createClient(probeService, transport);
  const web = createClient(webService, transport);
  for (const [caseName, run] of Object.entries(cases)) {
    const started = performance.now();
    try {
      await run(probe, web);
      if (process.env.CASE_TIMES) console.error(name, caseName, Math.round(performance.now() - started), "ms");
      results[`${name}:${caseName}`] = "ok";
    } catch (error) {
      results[`${name}:${caseName}`] = String(error?.stack ?? error);
    }
  }
}
console.log(JSON.stringify(results));
