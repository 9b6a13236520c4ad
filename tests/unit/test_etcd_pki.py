"""etcd's certificates (minik8s.pki): who gets which file, and finding a CA's key in any file
(pure: files in a temporary directory)."""

from __future__ import annotations

from pathlib import Path

from minik8s import pki
from minik8s.cli.launcher import pki as launcher_pki
from tests.support.keys import holds_key_of


def test_members_and_the_apiserver_get_no_ca_key(tmp_path: Path) -> None:
    certs = pki.ensure_etcd_certificates(tmp_path / "etcd")
    ca = certs.ca_cert.read_bytes()
    assert holds_key_of(ca, certs.ca_key.read_bytes())
    for path in (*certs.member_files(), *certs.apiserver_files()):
        assert not holds_key_of(ca, path.read_bytes()), path
    assert certs.server_key in certs.member_files()
    assert certs.apiserver_client_key not in certs.member_files()
    assert set(certs.apiserver_files()) == {
        certs.ca_cert, certs.apiserver_client_cert, certs.apiserver_client_key
    }  # fmt: skip


def test_holds_key_of_finds_a_ca_key_whatever_the_file_and_only_that_key(tmp_path: Path) -> None:
    certs = pki.ensure_etcd_certificates(tmp_path / "etcd")
    other = pki.ensure_etcd_certificates(tmp_path / "other")
    ca, key = certs.ca_cert.read_bytes(), certs.ca_key.read_bytes()
    # inside another file (a kubeconfig, a database page), CRLF line ends, among other keys
    assert holds_key_of(ca, b"\x00binary\xff" + key + b"trailing")
    assert holds_key_of(ca, other.ca_key.read_bytes() + key.replace(b"\n", b"\r\n"))
    assert not holds_key_of(ca, other.ca_key.read_bytes())  # another CA's key
    assert not holds_key_of(ca, certs.server_key.read_bytes())  # a leaf's key
    assert not holds_key_of(ca, ca)  # the certificate is public
    assert not holds_key_of(ca, b"-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----")
    assert not holds_key_of(ca, b"")


def test_the_launchers_etcd_ca_key_is_its_owners_only(tmp_path: Path) -> None:
    """`minik8s up`: etcd's CA in <home>/pki/etcd, a 0700 directory, every file 0600 from the
    moment it exists (written atomically with that mode)."""
    certs = launcher_pki.ensure_etcd(tmp_path, peers=True)
    assert certs.directory == tmp_path / "etcd"
    assert certs.directory.stat().st_mode & 0o777 == 0o700
    for path in certs.directory.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path
    launcher_pki.ensure(tmp_path)
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
