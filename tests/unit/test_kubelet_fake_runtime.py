from minik8s.kubelet.runtime import LABEL_CONTAINER, LABEL_NODE, LABEL_POD_UID, ContainerConfig
from minik8s.kubelet.runtime.fake import FakeRuntime


def config(uid: str, name: str) -> ContainerConfig:
    labels = {LABEL_NODE: "n1", LABEL_POD_UID: uid, LABEL_CONTAINER: name}
    return ContainerConfig(name=f"{uid}-{name}", image="x:1", labels=labels)


async def test_listing_by_pod_uid_sees_only_that_pods_containers() -> None:
    runtime = FakeRuntime()
    a1 = await runtime.run(config("a", "POD"))
    a2 = await runtime.run(config("a", "app"))
    b1 = await runtime.run(config("b", "POD"))
    assert [c.id for c in await runtime.list_containers({LABEL_POD_UID: "a"})] == [a1.id, a2.id]
    only_app = await runtime.list_containers({LABEL_POD_UID: "a", LABEL_CONTAINER: "app"})
    assert [c.id for c in only_app] == [a2.id]
    assert len(await runtime.list_containers({LABEL_NODE: "n1"})) == 3

    await runtime.remove(a1.id)
    await runtime.remove(a2.id)
    assert await runtime.list_containers({LABEL_POD_UID: "a"}) == []
    assert [c.id for c in await runtime.list_containers({LABEL_NODE: "n1"})] == [b1.id]
