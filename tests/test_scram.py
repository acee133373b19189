"""SCRAM-SHA-256 verifiers as PostgreSQL stores them, checked against RFC 7677's own exchange
(section 3): user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations. A
verifier is right when the client proof of that exchange verifies against its StoredKey and its
ServerKey signs the exchange as the RFC's server did."""
import base64
import hashlib
import hmac

import pytest

from tunestack.scram import scram_verifier

SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
AUTH_MESSAGE = (b"n=user,r=rOprNGfwEbeRWgbNEkqO,"
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
CLIENT_PROOF = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
SERVER_SIGNATURE = base64.b64decode("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


def parts(verifier):
    mechanism, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored, server = keys.split(":")
    return mechanism, int(iterations), base64.b64decode(salt), base64.b64decode(stored), base64.b64decode(server)


def test_the_rfc_7677_exchange_verifies_against_the_verifier():
    mechanism, iterations, salt, stored_key, server_key = parts(scram_verifier("pencil", salt=SALT))
    assert (mechanism, iterations, salt) == ("SCRAM-SHA-256", 4096, SALT)
    client_signature = hmac.new(stored_key, AUTH_MESSAGE, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(CLIENT_PROOF, client_signature))
    assert hashlib.sha256(client_key).digest() == stored_key
    assert hmac.new(server_key, AUTH_MESSAGE, hashlib.sha256).digest() == SERVER_SIGNATURE


def test_a_wrong_password_does_not_verify():
    _, _, _, stored_key, _ = parts(scram_verifier("pencils", salt=SALT))
    client_signature = hmac.new(stored_key, AUTH_MESSAGE, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(CLIENT_PROOF, client_signature))
    assert hashlib.sha256(client_key).digest() != stored_key


def test_each_verifier_has_its_own_salt():
    # RFC 5802 section 5.1: the salt is random per user; PostgreSQL uses 16 bytes.
    a, b = parts(scram_verifier("pencil")), parts(scram_verifier("pencil"))
    assert a[2] != b[2] and len(a[2]) == 16 and a[3] != b[3]


def test_non_ascii_passwords_are_refused_without_saslprep():
    with pytest.raises(ValueError, match="ASCII"):
        scram_verifier("pässword")
