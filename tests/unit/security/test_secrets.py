"""Sealing with the master key: round trips, binding to a record, wrong keys named, key files kept private."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from tradeforge.security.credentials import VenueCredentials
from tradeforge.security.secrets import (
    MASTER_KEY_ENV,
    PREVIOUS_KEYS_ENV,
    MasterKey,
    MasterKeyError,
    MasterKeySource,
    SealedValueError,
    WrongMasterKey,
    fingerprint,
    generate_master_key,
    mask,
    rotate_key_file,
    sealed_fingerprint,
)

SECRET = "Zq8v2LxS9mPp4TtR7uWy1Aa3Cc5Ee7Gg9Ii0Kk2Mm4O"
CONTEXT = "venue_credentials/c1/secret"


def key(text: str | None = None) -> MasterKey:
    return MasterKey.from_text(text or generate_master_key(), "test")


def test_a_sealed_value_opens_to_the_plaintext_and_never_shows_it() -> None:
    ring = key()
    first, second = ring.seal(SECRET, CONTEXT), ring.seal(SECRET, CONTEXT)
    assert first != second  # a fresh nonce each time: equal secrets do not look equal at rest
    for token in (first, second):
        assert SECRET not in token and token.startswith(f"v1:{ring.fingerprint}:")
        assert sealed_fingerprint(token) == ring.fingerprint
        assert ring.open(token, CONTEXT) == SECRET


def test_a_value_is_bound_to_its_record_and_field() -> None:
    ring = key()
    token = ring.seal(SECRET, CONTEXT)
    with pytest.raises(SealedValueError, match="does not authenticate for venue_credentials/c2/secret"):
        ring.open(token, "venue_credentials/c2/secret")  # copied onto another row
    version, key_id, body = token.split(":")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(SealedValueError, match="altered"):
        ring.open(f"{version}:{key_id}:{flipped}", CONTEXT)
    with pytest.raises(SealedValueError, match="not a sealed value"):
        ring.open("plaintext", CONTEXT)


def test_a_wrong_key_is_named_with_both_fingerprints_and_previous_keys_still_open() -> None:
    old, new = key(), key()
    token = old.seal(SECRET, CONTEXT)
    with pytest.raises(WrongMasterKey) as raised:
        new.open(token, CONTEXT)
    message = str(raised.value)
    assert f"sealed with master key {old.fingerprint}" in message
    assert f"the configured key is {new.fingerprint}" in message and MASTER_KEY_ENV in message
    ring = MasterKey(new.primary, "test", previous=(old.primary,))
    assert ring.open(token, CONTEXT) == SECRET
    assert not ring.sealed_with_primary(token) and ring.fingerprints == {old.fingerprint, new.fingerprint}
    assert SECRET not in repr(ring) and base64.urlsafe_b64encode(new.primary).decode() not in repr(ring)


def test_the_environment_wins_over_the_key_file(tmp_path: Path) -> None:
    text = generate_master_key()
    source = MasterKeySource(tmp_path, {MASTER_KEY_ENV: text})
    loaded = source.load_or_create()
    assert loaded.primary == base64.urlsafe_b64decode(text) and "environment variable" in loaded.origin
    assert not source.key_file.exists()
    standard = base64.b64encode(loaded.primary).decode()  # standard base64 is accepted too
    assert MasterKeySource(tmp_path, {MASTER_KEY_ENV: standard}).load().fingerprint == loaded.fingerprint


def test_the_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    source = MasterKeySource(tmp_path / "var", {})
    with pytest.raises(MasterKeyError, match=f"no master key: set {MASTER_KEY_ENV} or create"):
        source.load()
    created = source.load_or_create()
    assert stat.S_IMODE(source.key_file.stat().st_mode) == 0o600
    assert source.load_or_create().fingerprint == created.fingerprint == fingerprint(created.primary)
    assert [p.name for p in source.key_file.parent.iterdir()] == ["master.key"]  # no temporary left
    os.chmod(source.key_file, 0o644)
    with pytest.raises(MasterKeyError, match=r"accessible by other users \(mode 0644\); run `chmod 600"):
        source.load()


def test_a_malformed_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError) as raised:
        MasterKeySource(tmp_path, {MASTER_KEY_ENV: "my-password-123"}).load()
    assert "my-password-123" not in str(raised.value)
    assert f"{MASTER_KEY_ENV} is not a master key: expected 32 random bytes" in str(raised.value)


def test_rotating_the_key_file_keeps_the_old_key_as_previous(tmp_path: Path) -> None:
    source = MasterKeySource(tmp_path, {})
    old = source.load_or_create()
    token = old.seal(SECRET, CONTEXT)
    new = rotate_key_file(source)
    assert new.fingerprint != old.fingerprint and old.fingerprint in new.fingerprints
    assert new.open(token, CONTEXT) == SECRET
    assert stat.S_IMODE(source.previous_file.stat().st_mode) == 0o600
    with pytest.raises(MasterKeyError, match="a rotation is unfinished"):
        rotate_key_file(source)
    with pytest.raises(MasterKeyError, match=f"rotate it there .*{PREVIOUS_KEYS_ENV}"):
        rotate_key_file(MasterKeySource(tmp_path, {MASTER_KEY_ENV: generate_master_key()}))


def test_previous_keys_come_from_the_environment_too(tmp_path: Path) -> None:
    old, new = generate_master_key(), generate_master_key()
    ring = MasterKeySource(tmp_path, {MASTER_KEY_ENV: new, PREVIOUS_KEYS_ENV: f"{old}, {new}"}).load()
    assert len(ring.previous) == 1 and ring.previous[0] == base64.urlsafe_b64decode(old)


def test_credentials_mask_every_secret_when_printed() -> None:
    credentials = VenueCredentials("okx", "main", "AKIAexampleKEY0001", SECRET, "pass phrase", sandbox=True)
    for text in (repr(credentials), str(credentials), f"{credentials}"):
        assert "AKIAexampleKEY0001" not in text and SECRET not in text and "pass phrase" not in text
        assert "api_key='AKIA…'" in text and "sandbox=True" in text
    assert credentials.ccxt_config() == {
        "apiKey": "AKIAexampleKEY0001",
        "secret": SECRET,
        "password": "pass phrase",
    }
    assert mask("short") == "…" and mask("AKIAexampleKEY0001") == "AKIA…" and mask(None) is None
