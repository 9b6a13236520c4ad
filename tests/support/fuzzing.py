"""Requests for fuzzing the apiserver: seeds (drawn by hypothesis or schemathesis) turned into
many mutated requests by a fast seeded mutator, and a concurrent sender that records what
came back.

A seed names a resource, a verb, an object name and a random seed; `requests_from_seed`
builds a valid request for it and then bends it: bodies in JSON, YAML and protobuf, truncated
or with flipped bytes, fields of the wrong type, huge or non-ASCII numbers, unknown fields
nested deep, YAML aliases, patches of every type with odd operations and directives,
selectors and query parameters from a pool of valid and hostile values.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import yaml

from minik8s.api import protobuf, resources
from minik8s.api.resources import SERVICES, ResourceType
from minik8s.apiserver import routing, serviceallocation

NAMESPACES = ("fz-a", "fz-b")
NAMES = ("a", "b", "c", "web", "x-1")
JSON = "application/json"
PATCH_TYPES = (
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
CONTENT_TYPES = (JSON, JSON, JSON, "application/yaml", protobuf.MEDIA_TYPE, "text/plain", "")
HOSTILE_STRINGS = (
    "", " ", "\u00b2", "\u0661", "1e3", "9" * 30, "-1", "0", "1", "true", "All", "Strict", "Warn",
    "Ignore", "x" * 300, "a=b", "a in (b,c)", "!a", "a!=", "=", "((((", "\u00e9\u00e8\ud7ff",
    "\x00", "../..", "%", "metadata.name=a", "spec.nodeName=n", "status.phase!=Running",
    "Exact", "NotOlderThan", "Orphan", "Foreground", "Object", "Metadata", "None",
)  # fmt: skip
HOSTILE_VALUES: tuple[Any, ...] = (
    None, True, 0, -1, 2**31, 2**63 - 1, -(2**63), 10**12, 1.5, 1e300, "", "\u00b2", "x" * 1000,
    [], {}, [None], {"": ""}, {"$patch": "delete"}, [[1]], "2024-13-45T99:99:99Z", "1Gi", "-5m",
)  # fmt: skip
QUERY_KEYS = (
    "labelSelector", "fieldSelector", "limit", "continue", "resourceVersion",
    "resourceVersionMatch", "timeoutSeconds", "allowWatchBookmarks", "sendInitialEvents",
    "dryRun", "fieldValidation", "fieldManager", "pretty", "gracePeriodSeconds",
    "propagationPolicy", "orphanDependents", "includeObject", "force",
)  # fmt: skip
# kubectl's own protobuf bodies (tests/unit/test_protobuf.py), mutated byte-wise
PROTOBUF_SAMPLES = (
    bytes.fromhex(
        "6b3873000a0f0a02763112094e616d657370616365121a0a120a02743112001a0022002a00320038"
        "00420012001a020a001a002200"
    ),
    bytes.fromhex(
        "6b3873000a0f0a0276311209436f6e6669674d6170121f0a150a03636d3112001a02743122002a00"
        "32003800420012060a01611201621a002200"
    ),
)


@dataclass(frozen=True)
class Seed:
    resource: str
    verb: str
    name: str
    namespace: str
    seed: int
    mutations: int


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = None
    body: bytes | None = None
    accept: str | None = None

    @property
    def is_watch(self) -> bool:
        return self.method == "GET" and any(
            k == "watch" and v in ("1", "true", "True", "t", "T", "TRUE") for k, v in self.query
        )

    @property
    def url(self) -> str:
        return self.path + ("?" + urlencode(self.query) if self.query else "")


@dataclass
class Outcome:
    request: Request
    status: int
    body: bytes


def manifest(resource: ResourceType, name: str, rng: random.Random) -> dict[str, Any]:
    """A valid object of `resource` (before mutation)."""
    labels = {"app": rng.choice(("web", "db", "x"))}
    obj: dict[str, Any] = {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": {"name": name, "labels": labels},
    }
    container = {"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [container]}}
    specs: dict[str, Any] = {
        "Pod": {"containers": [container]},
        "Service": {"selector": labels, "ports": [{"port": 80}]},
        "Deployment": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
        "ReplicaSet": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
        "Node": {},
        "Lease": {"holderIdentity": "h", "leaseDurationSeconds": 10},
    }
    if resource.kind in specs:
        obj["spec"] = specs[resource.kind]
    if resource.kind == "ConfigMap":
        obj["data"] = {"k": "v"}
    if resource.kind == "Endpoints":
        obj["subsets"] = [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]
    if resource.kind == "Event":
        obj["involvedObject"] = {"kind": "Pod", "name": "a", "namespace": "fz-a"}
        obj["reason"], obj["message"] = "Fuzz", "m"
    return obj


def mutate_value(value: Any, rng: random.Random, depth: int = 0) -> Any:
    """One structural change somewhere in a JSON value (a new value; the input is unchanged)."""
    if isinstance(value, dict) and value and rng.random() < 0.7 and depth < 12:
        key = rng.choice(list(value))
        out = dict(value)
        roll = rng.random()
        if roll < 0.15:
            del out[key]
        elif roll < 0.3:
            out[rng.choice(("bogus", "securityContex", "$patch", "x" * 40, "\u00e9"))] = rng.choice(
                HOSTILE_VALUES
            )
        else:
            out[key] = mutate_value(value[key], rng, depth + 1)
        return out
    if isinstance(value, list) and value and rng.random() < 0.7 and depth < 12:
        out_list = list(value)
        i = rng.randrange(len(out_list))
        if rng.random() < 0.2:
            out_list.append(out_list[i])  # a duplicate (merge keys!)
        else:
            out_list[i] = mutate_value(out_list[i], rng, depth + 1)
        return out_list
    roll = rng.random()
    if roll < 0.05:
        nested: Any = "leaf"
        for _ in range(rng.choice((50, 120, 300))):
            nested = {"n": nested} if rng.random() < 0.5 else [nested]
        return nested
    return rng.choice(HOSTILE_VALUES)


def encode(obj: Any, content_type: str, rng: random.Random) -> bytes:
    if content_type == protobuf.MEDIA_TYPE:
        return bytearray_mutate(rng.choice(PROTOBUF_SAMPLES), rng, rng.randint(0, 4))
    if content_type == "application/yaml" or content_type.endswith("yaml"):
        try:
            text = yaml.safe_dump(obj)
        except yaml.YAMLError:
            text = "{}"
        if rng.random() < 0.1:  # aliases, a small bomb, or a tag PyYAML's safe loader refuses
            text = rng.choice((
                "a: &a [x, x, x]\nb: [*a, *a, *a]\n" + text,
                "".join(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]\n"
                        for i in range(1, 7)).replace("*l0", "x"),
                "a: !!python/object:os.system ls\n",
                "a: !!binary aGk=\n",
                "? [1]\n: x\n",
            ))  # fmt: skip
        return text.encode("utf-8", "surrogatepass")
    try:
        raw = orjson.dumps(obj)
    except TypeError:  # an int past 64 bits, or nesting past orjson's limit
        raw = json.dumps(obj).encode()
    return raw


def bytearray_mutate(data: bytes, rng: random.Random, count: int) -> bytes:
    out = bytearray(data)
    for _ in range(count):
        roll = rng.random()
        if not out:
            break
        i = rng.randrange(len(out))
        if roll < 0.3:
            out[i] = rng.randrange(256)
        elif roll < 0.5:
            del out[i:]
        elif roll < 0.7:
            out[i:i] = bytes([rng.randrange(256)]) * rng.choice((1, 3, 20))
        elif roll < 0.85:
            out[i:i] = b"\xff" * rng.choice((11, 200))  # an over-long varint
        else:
            out += out[: rng.randrange(len(out))]
    return bytes(out)


def json_patch(obj: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    paths = ["/metadata/labels/x", "/metadata/annotations", "/spec", "/spec/replicas",
             "/metadata/name", "", "/", "/a/b/c", "/spec/containers/0/image",
             "/spec/containers/-", "/metadata/labels", "~1", "/metadata/finalizers/0"]  # fmt: skip
    operations = []
    for _ in range(rng.randint(1, 6)):
        op: dict[str, Any] = {"op": rng.choice(("add", "remove", "replace", "move", "copy",
                                                 "test", "bogus"))}  # fmt: skip
        op["path"] = rng.choice(paths)
        if op["op"] in ("move", "copy"):
            op["from"] = rng.choice(paths)
        if op["op"] in ("add", "replace", "test"):
            op["value"] = rng.choice((*HOSTILE_VALUES, {"a": "b"}, "v"))
        if rng.random() < 0.1:
            op = mutate_value(op, rng)
        operations.append(op)
    return operations


def strategic_patch(obj: dict[str, Any], rng: random.Random) -> Any:
    patch: dict[str, Any] = {"metadata": {"labels": {"y": "z"}}}
    roll = rng.random()
    if roll < 0.2:
        patch["spec"] = {"containers": [{"name": "c", "image": "v2"}, {"$patch": "delete",
                                                                         "name": "d"}]}  # fmt: skip
    elif roll < 0.35:
        patch["spec"] = {"$setElementOrder/containers": [{"name": "c"}, {"name": "zz"}],
                         "containers": [{"name": "zz", "image": "i"}]}  # fmt: skip
    elif roll < 0.45:
        patch["metadata"] = {"$retainKeys": ["name"], "labels": None}
    elif roll < 0.55:
        patch["metadata"]["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "X", "name": f"o{i}", "uid": f"u{i % 50}"}
            for i in range(rng.choice((10, 300)))
        ]
    elif roll < 0.6:
        patch = {"$patch": rng.choice(("replace", "delete", "merge", "bogus"))}
    return mutate_value(patch, rng) if rng.random() < 0.5 else patch


def restock() -> list[Request]:
    """Creates of a valid object for every resource, namespace and pooled name, so that the
    updates, patches and deletes that follow find something to work on."""
    out = []
    rng = random.Random(0)
    for resource in resources.RESOURCES:
        for namespace in NAMESPACES if resource.namespaced else (None,):
            for name in NAMES:
                body = orjson.dumps(manifest(resource, name, rng))
                out.append(Request("POST", resource.collection_path(namespace), [], JSON, body))
    return out


def interleave(requests: list[Request], every: int = 1000) -> list[Request]:
    """`requests` with a `restock()` before each run of `every` of them."""
    out: list[Request] = []
    for start in range(0, len(requests), every):
        out += restock() + requests[start : start + every]
    return out


def requests_from_seed(seed: Seed) -> list[Request]:
    """A valid request for the seed, then `seed.mutations` mutated variants of it."""
    rng = random.Random(seed.seed)
    resource = resources.by_plural(seed.resource)
    assert resource is not None
    namespace = seed.namespace if resource.namespaced else None
    collection = resource.collection_path(namespace)
    item = resource.object_path(namespace, seed.name)
    obj = manifest(resource, seed.name, rng)
    base = _base_request(seed.verb, resource, collection, item, obj, rng)
    out = [base]
    for _ in range(seed.mutations):
        out.append(mutated(base, resource, obj, rng))
    return out


def _base_request(
    verb: str,
    resource: ResourceType,
    collection: str,
    item: str,
    obj: dict[str, Any],
    rng: random.Random,
) -> Request:
    if verb == "create":
        return Request("POST", collection, [], JSON, orjson.dumps(obj))
    if verb == "update":
        return Request("PUT", item, [], JSON, orjson.dumps(obj))
    if verb == "patch":
        content_type = rng.choice(PATCH_TYPES)
        body: Any = {"metadata": {"labels": {"p": "q"}}}
        if content_type == PATCH_TYPES[1]:
            body = json_patch(obj, rng)
        elif content_type == PATCH_TYPES[2]:
            body = strategic_patch(obj, rng)
        elif content_type == PATCH_TYPES[3]:
            body = obj
        return Request("PATCH", item, [], content_type, encode(body, content_type, rng))
    if verb == "delete":
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}
        return Request("DELETE", item, [], JSON, orjson.dumps(options))
    if verb == "watch":
        return Request("GET", collection, [("watch", "1"), ("timeoutSeconds", "1")])
    if verb == "status" and "status" in resource.subresources:
        return Request("PUT", item + "/status", [], JSON, orjson.dumps(obj))
    if verb == "scale" and "scale" in resource.subresources:
        scale = {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": obj["metadata"]["name"]},
            "spec": {"replicas": 2},
        }
        return Request("PUT", item + "/scale", [], JSON, orjson.dumps(scale))
    if verb == "binding" and resource.kind == "Pod":
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": obj["metadata"]["name"]},
                   "target": {"kind": "Node", "name": "n1"}}  # fmt: skip
        return Request("POST", item + "/binding", [], JSON, orjson.dumps(binding))
    if verb == "list":
        return Request("GET", collection, [("limit", str(rng.choice((0, 1, 2, 500))))])
    return Request("GET", item)


def mutated(
    base: Request, resource: ResourceType, obj: dict[str, Any], rng: random.Random
) -> Request:
    request = Request(base.method, base.path, list(base.query), base.content_type, base.body)
    roll = rng.random()
    if request.body is not None and roll < 0.55:
        if request.content_type in (JSON, None) and request.method in ("POST", "PUT"):
            request.content_type = rng.choice(CONTENT_TYPES)
            changed = mutate_value(obj, rng)
            for _ in range(rng.randint(0, 2)):
                changed = mutate_value(changed, rng)
            request.body = encode(changed, request.content_type or JSON, rng)
        if rng.random() < 0.25:
            request.body = bytearray_mutate(request.body, rng, rng.randint(1, 3))
    elif roll < 0.8:
        for _ in range(rng.randint(1, 3)):
            key = rng.choice(QUERY_KEYS)
            value = rng.choice(HOSTILE_STRINGS)
            if key == "timeoutSeconds" and value.isascii() and value.isdigit():
                value = str(min(int(value), 1))  # watches must end quickly
            if key == "resourceVersion" and len(value) > 6:
                value = "0"  # a future revision waits 3 s for its 504 (tested elsewhere)
            request.query.append((key, value))
        if ("watch", "1") in request.query and ("timeoutSeconds", "1") not in request.query:
            request.query.append(("timeoutSeconds", "1"))
    elif roll < 0.9:
        request.accept = rng.choice((
            "application/json;as=Table;v=v1;g=meta.k8s.io", "application/yaml", "*/*",
            "application/vnd.kubernetes.protobuf", "application/json;as=PartialObjectMetadata",
        ))  # fmt: skip
    else:
        request.path = rng.choice((
            request.path + "/" + rng.choice(("status", "scale", "binding", "log", "exec",
                                             "portforward", "bogus", "finalize")),
            request.path.replace("/namespaces/", "/namespaces/\u00e9"),
            request.path + "/extra/segments/here",
            "/api/v1/" + rng.choice(HOSTILE_STRINGS),
            "/apis/apps/v1/namespaces/fz-a/" + rng.choice(("deployments", "pods", "scale")),
        ))  # fmt: skip
        request.method = rng.choice(("GET", "POST", "PUT", "PATCH", "DELETE", base.method))
        if request.method in ("POST", "PUT", "PATCH") and request.body is None:
            request.body, request.content_type = b"{}", JSON
    if any(k == "watch" for k, _ in request.query) and request.method == "GET":
        request.query = [(k, v) for k, v in request.query if k != "timeoutSeconds"]
        request.query.append(("timeoutSeconds", "1"))
    return request


async def send_all(
    base_url: str, token: str | None, requests: list[Request], concurrency: int = 12
) -> list[Outcome]:
    """Send every request (`concurrency` at a time); watches are read to their end."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency)
    outcomes: list[Outcome] = []
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)

    async with aiohttp.ClientSession(
        base_url, headers=headers, timeout=timeout, connector=connector,
        skip_auto_headers=("Content-Type",),
    ) as session:  # fmt: skip

        async def worker() -> None:
            while not queue.empty():
                request = queue.get_nowait()
                extra = {}
                if request.content_type is not None:
                    extra["Content-Type"] = request.content_type
                if request.accept is not None:
                    extra["Accept"] = request.accept
                async with session.request(
                    request.method, request.url, data=request.body, headers=extra
                ) as response:
                    if response.status == 200 and request.is_watch:
                        # Read what comes at once, then hang up (a client going away).
                        try:
                            body = await asyncio.wait_for(response.content.read(65536), 0.2)
                        except TimeoutError:
                            body = b""
                        response.close()
                    else:
                        body = await response.read()
                    outcomes.append(Outcome(request, response.status, body))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


def storage_keys(outcome: Outcome) -> set[str]:
    """The etcd keys a successful write request may have written."""
    request = outcome.request
    parsed = routing.parse(request.path)
    keys: set[str] = set()
    if not isinstance(parsed, routing.ResourcePath):
        return keys
    resource = parsed.resource
    if parsed.name is not None:
        keys.add(resource.storage_key(parsed.namespace, parsed.name))
    try:
        body = orjson.loads(outcome.body)
    except orjson.JSONDecodeError:
        return keys
    if not isinstance(body, dict):
        return keys
    objects = body.get("items") if isinstance(body.get("items"), list) else [body]
    if isinstance(body.get("rows"), list):  # a Table (Accept: as=Table): the rows' objects
        objects = [row.get("object") for row in body["rows"] if isinstance(row, dict)]
    for obj in objects:
        metadata = obj.get("metadata") if isinstance(obj, dict) else None
        if isinstance(metadata, dict) and metadata.get("name"):
            keys.add(resource.storage_key(metadata.get("namespace"), metadata["name"]))
        if resource is SERVICES and isinstance(obj, dict):
            keys |= serviceallocation.held(obj).keys()  # its addresses' keys, same transaction
    return keys
