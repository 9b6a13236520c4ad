from minik8s.kubelet.hairpin import ports_without_hairpin


def port(name: str, hairpin: bool | None, kind: str = "bridge") -> dict:
    data = {} if hairpin is None else {"hairpin": hairpin}
    return {"ifname": name, "linkinfo": {"info_slave_kind": kind, "info_slave_data": data}}


def test_only_bridge_ports_with_hairpin_off_are_picked() -> None:
    links = [
        port("veth-on", True),
        port("veth-off", False),
        port("veth-unknown", None),
        port("bond-member", False, kind="bond"),
        {"ifname": "no-linkinfo"},
    ]
    assert ports_without_hairpin(links) == ["veth-off", "veth-unknown"]


def test_no_ports() -> None:
    assert ports_without_hairpin([]) == []
