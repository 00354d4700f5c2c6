"""core.keys against OpenSSL's own files and RFC 8032's first test vector."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidKey
from core.keys import (
    generate_private_key,
    key_id,
    load_private_key,
    load_public_key,
    private_key_to_pem,
    public_key_from_raw,
    public_key_pem,
    public_key_raw,
)

# RFC 8032 §7.1, TEST 1.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
# sha256sum of the 32 raw public key bytes, computed outside this code base.
RFC8032_KEY_ID = "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9"
# The fixed DER prefixes of RFC 8410 §7 (PKCS#8) and §4 (SubjectPublicKeyInfo).
PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def pem(label: str, der: bytes) -> bytes:
    body = base64.b64encode(der).decode()
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


@pytest.fixture
def openssl_key(tmp_path):
    """A private key and its public key, as the openssl command line writes them."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    private, public = tmp_path / "partner.key", tmp_path / "partner.pub"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(private)], check=True
    )
    subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], check=True
    )
    return private.read_bytes(), public.read_bytes()


# ---- known answers ----------------------------------------------------------


def test_rfc8032_key_and_its_id():
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)
    assert public_key_raw(key.public_key()) == RFC8032_PUBLIC
    assert key_id(key.public_key()) == RFC8032_KEY_ID
    assert key_id(public_key_from_raw(RFC8032_PUBLIC)) == RFC8032_KEY_ID


def test_pem_encodings_are_the_rfc8410_ones():
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)
    assert private_key_to_pem(key) == pem("PRIVATE KEY", PKCS8_PREFIX + RFC8032_SEED)
    assert public_key_pem(key.public_key()) == pem("PUBLIC KEY", SPKI_PREFIX + RFC8032_PUBLIC)


# ---- files written by openssl -----------------------------------------------


def test_reads_and_writes_openssl_files_byte_for_byte(openssl_key):
    private_pem, public_pem_bytes = openssl_key
    key = load_private_key(private_pem)
    assert private_key_to_pem(key) == private_pem
    assert public_key_pem(key.public_key()) == public_pem_bytes

    public = load_public_key(public_pem_bytes)
    assert public_key_raw(public) == public_key_raw(key.public_key())
    assert key_id(load_public_key(private_pem)) == key_id(public)
    assert key_id(public) == hashlib.sha256(public_key_raw(public)).hexdigest()


def test_generated_key_round_trips():
    key = generate_private_key()
    again = load_private_key(private_key_to_pem(key))
    assert public_key_raw(again.public_key()) == public_key_raw(key.public_key())
    public = load_public_key(public_key_pem(key.public_key()))
    assert public_key_raw(public) == public_key_raw(key.public_key())
    raw = public_key_raw(public)
    assert len(raw) == 32
    assert public_key_raw(load_public_key(raw)) == raw
    assert public_key_raw(public_key_from_raw(raw)) == raw


def test_key_ids_differ_between_keys():
    assert key_id(generate_private_key().public_key()) != key_id(
        generate_private_key().public_key()
    )


# ---- helpful refusals -------------------------------------------------------


def test_not_pem():
    with pytest.raises(InvalidKey, match="not a PEM file"):
        load_private_key(b"hello")
    with pytest.raises(InvalidKey, match="not a PEM file"):
        load_public_key(b"hello")


def test_rsa_key_is_refused_with_the_openssl_command():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    expected = "an RSA key, expected Ed25519: create one with `openssl genpkey -algorithm ed25519`"
    with pytest.raises(InvalidKey) as err:
        load_private_key(rsa_pem)
    assert str(err.value) == expected
    rsa_public = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InvalidKey, match="an RSA key, expected Ed25519"):
        load_public_key(rsa_public)


def test_ec_key_is_named():
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    with pytest.raises(InvalidKey, match="an EC key on secp256r1, expected Ed25519"):
        load_private_key(ec_pem)


def test_encrypted_key_is_refused():
    encrypted = generate_private_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    assert b"ENCRYPTED PRIVATE KEY" in encrypted
    with pytest.raises(InvalidKey, match="encrypted, which is not supported"):
        load_private_key(encrypted)


def test_public_key_where_private_expected():
    public = public_key_pem(generate_private_key().public_key())
    with pytest.raises(InvalidKey, match="a public key, expected the private key"):
        load_private_key(public)


def test_corrupt_pem_body():
    bad = pem("PRIVATE KEY", b"\x30\x03\x02\x01\x00")
    with pytest.raises(InvalidKey, match="cannot read the private key"):
        load_private_key(bad)


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_raw_public_key_must_be_32_bytes(size):
    with pytest.raises(InvalidKey, match="32 raw bytes"):
        public_key_from_raw(b"\x01" * size)


@given(st.binary(max_size=200))
def test_load_public_key_only_raises_invalid_key(data):
    try:
        key = load_public_key(data)
    except InvalidKey:
        return
    assert len(data) == 32 and public_key_raw(key) == data


@given(st.binary(max_size=200).map(lambda b: b"-----BEGIN PRIVATE KEY-----\n" + b))
def test_load_private_key_only_raises_invalid_key(data):
    with pytest.raises(InvalidKey):
        load_private_key(data)
