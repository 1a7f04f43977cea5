"""A factor's key item edited in the keyring behind vpushd's back: its secret replaced by
something that is not the factor's P-256 key (garbage, empty, a key of another curve, PEM
text, another P-256 key), a second item under the same factor sid, the item gone.

vpushd never signs with a key it can't be sure of, says what is wrong with a clear error
instead of "no such challenge", and a factor whose key is unusable can still be deleted.
Each test restarts vpushd after the edit, so that the key is read from the keyring again.
"""

import os
import subprocess

import pytest
from gi.repository import GLib

import vpushtest as vt

SERVICE_IFACE = "org.freedesktop.Secret.Service"
ERR_FAILED = "io.github.vpush1.Error.Failed"
# the timeout-ms of an approval that fails on its key: it ends at its timeout with the key's
# error, once the key was tried (under valgrind, loading it may take more than 2 s)
KEY_ERROR_WITHIN_MS = 6000 if vt.VALGRIND else 2000


@pytest.fixture
def daemon(session, emulator):
    """vpushd that polls only when asked: what a test sees is what its own call did."""
    emulator.set_clock(0)
    d = vt.Daemon(session, emulator, config={
        "Poll": {"IntervalSeconds": "3600", "IntervalWithPushSeconds": "3600"}})
    d.start()
    yield d
    d.stop()


def open_session(session):
    _, path = session._secrets_call(vt.SECRETS_PATH, SERVICE_IFACE, "OpenSession",
                                    GLib.Variant("(sv)", ("plain", GLib.Variant("s", ""))))
    return path


def read_secret(session, item):
    path = open_session(session)
    secrets = session._secrets_call(vt.SECRETS_PATH, SERVICE_IFACE, "GetSecrets",
                                    GLib.Variant("(aoo)", ([item], path)))[0]
    return bytes(secrets[item][2])


def create_item(session, attributes, secret, replace):
    """An item with these attributes and secret in the default collection; replace: in
    place of the item that has the same attributes."""
    path = open_session(session)
    props = {"org.freedesktop.Secret.Item.Label": GLib.Variant("s", "vpush factor key (edited)"),
             "org.freedesktop.Secret.Item.Attributes": GLib.Variant("a{ss}", attributes)}
    return session._secrets_call(
        session.default_collection(), "org.freedesktop.Secret.Collection", "CreateItem",
        GLib.Variant("(a{sv}(oayays)b)",
                     (props, (path, b"", secret, "application/octet-stream"), replace)))[0]


def copy_to_new_collection(session, item, label):
    """A new collection (unlocked, its own password) holding a copy of item: its path."""
    plain = open_session(session)
    other = session._secrets_call(
        vt.SECRETS_PATH, "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface",
        "CreateWithMasterPassword",
        GLib.Variant("(a{sv}(oayays))", ({"org.freedesktop.Secret.Collection.Label":
                                          GLib.Variant("s", label)},
                                         (plain, b"", b"other password", "text/plain"))))[0]
    props = {"org.freedesktop.Secret.Item.Label": GLib.Variant("s", item["label"]),
             "org.freedesktop.Secret.Item.Attributes": GLib.Variant("a{ss}", item["attributes"])}
    secret = read_secret(session, item["path"])
    session._secrets_call(other, "org.freedesktop.Secret.Collection", "CreateItem",
                          GLib.Variant("(a{sv}(oayays)b)",
                                       (props, (plain, b"", secret, "application/octet-stream"),
                                        False)))
    return other


def openssl_key(curve, der=True):
    pem = subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                          "ec_paramgen_curve:" + curve], capture_output=True, check=True).stdout
    if not der:
        return pem
    return subprocess.run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-outform", "DER"],
                          input=pem, capture_output=True, check=True).stdout


def the_item(session, factor):
    items = session.keyring_items({"factor-sid": factor.sid})
    assert len(items) == 1, items
    return items[0]


def result(fn, *args):
    try:
        return ("reply", fn(*args))
    except vt.DBusCallError as e:
        return (e.name, e.message)


def test_unusable_key_is_said_so(factor, daemon, client, emulator, session):
    """An approval for a factor whose key is unusable fails with Error.Failed saying so,
    not with NotFound (the challenge is there, its factor just can't sign), and nothing is
    sent. Before, it waited out its timeout-ms and said no challenge matched."""
    item = the_item(session, factor)
    for secret in (b"garbage", b"", openssl_key("P-384"), openssl_key("P-256", der=False)):
        create_item(session, item["attributes"], secret, replace=True)
        daemon.restart()
        txid, ch = vt.new_transaction_id(), None
        ch = emulator.create_challenge(factor.identity, factor.sid,
                                       hidden={"transaction_id": txid})["sid"]
        name, message = result(client.approve,
                               {"transaction-id": txid, "timeout-ms": KEY_ERROR_WITHIN_MS})
        assert name == ERR_FAILED, (secret[:16], name, message)
        assert "the key of factor %s in the Secret Service is unusable" % factor.sid in message
        assert factor.sid in message
        name, message = result(client.approve,
                               {"challenge-sid": ch, "timeout-ms": KEY_ERROR_WITHIN_MS})
        assert name == ERR_FAILED and "unusable" in message, (name, message)
        assert emulator.answer_posts(ch) == 0


def test_missing_key_is_said_so(factor, daemon, client, emulator, session):
    """The same for a key gone from the keyring: the error names the missing key."""
    subprocess.run(["secret-tool", "clear", "factor-sid", factor.sid], env=session.env,
                   timeout=20, check=True)
    daemon.restart()
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid,
                                   hidden={"transaction_id": txid})["sid"]
    for match in ({"transaction-id": txid}, {"challenge-sid": ch}):
        match["timeout-ms"] = KEY_ERROR_WITHIN_MS
        name, message = result(client.approve, match)
        assert name == ERR_FAILED, (match, name, message)
        assert "the key of factor %s is not in the Secret Service" % factor.sid in message
    assert emulator.answer_posts(ch) == 0


def test_an_item_that_is_not_a_key_hides_none(daemon, client, emulator, session):
    """Two items under a factor's sid, one not a key, the other the factor's key: vpushd
    uses the key. Before, it read the items in the order the Secret Service lists them
    (a hash order) and gave up at the first one that was not a key. So that the order
    can't make this pass by chance, there are ten such factors (a chance of 2^-10)."""
    factors = [vt.enroll(client, emulator) for _ in range(10)]
    for factor in factors:
        item = the_item(session, factor)
        key = read_secret(session, item["path"])
        create_item(session, item["attributes"], b"not a key", replace=True)
        create_item(session, item["attributes"], key, replace=False)
        assert len(session.keyring_items({"factor-sid": factor.sid})) == 2
    daemon.stop()
    # the ten keys are loaded at once, and the keyring answers one search after the other:
    # under valgrind that takes longer than the harness's keyring timeout
    slow = vt.Daemon(session, emulator, state_dir=daemon.state_dir,
                     config={"Keyring": {"TimeoutMs": str(int(min(25000, 5000 * vt.SLOWDOWN)))}})
    slow.start()
    try:
        # a poll of every factor: each signs with its key
        client.refresh()
        factor = factors[-1]
        txid = vt.new_transaction_id()
        ch = emulator.create_challenge(factor.identity, factor.sid,
                                       hidden={"transaction_id": txid})["sid"]
        assert client.approve({"transaction-id": txid,
                               "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch
        assert emulator.fetch_challenge(factor.identity, ch)["status"] == "approved"
    finally:
        slow.stop()


def another_programs_item(session, factor):
    """An item of another program's schema that happens to carry the factor's sid, and a
    P-256 key of its own."""
    create_item(session, {"xdg:schema": "org.example.Other", "factor-sid": factor.sid},
                openssl_key("prime256v1"), replace=False)


def test_another_programs_item_is_not_the_key(factor, daemon, client, emulator, session):
    """Only items of vpush's schema (io.github.vpush.FactorKey, design.md) are factor keys:
    another program's item with the factor's sid is neither taken for its key nor makes
    two keys of it."""
    another_programs_item(session, factor)
    daemon.restart()
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid,
                           "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch["sid"]


def test_delete_leaves_another_programs_item(factor, daemon, client, emulator, session):
    """Factor.Delete deletes vpush's key, not another program's secret that carries the
    same sid."""
    another_programs_item(session, factor)
    client.factor_delete(factor.path)
    left = session.keyring_items({"factor-sid": factor.sid})
    assert [i["attributes"].get("xdg:schema") for i in left] == ["org.example.Other"], left


def test_two_different_keys_none_used(factor, daemon, client, emulator, session):
    """Two items under the factor's sid with different P-256 keys: vpushd can't tell which
    is the factor's and signs with neither, saying so. Before, it took whichever the
    Secret Service listed first: a wrong one fails at the API, and a Factor.Delete signed
    with it counted the API's 401 as done."""
    item = the_item(session, factor)
    create_item(session, item["attributes"], openssl_key("P-256"), replace=False)
    daemon.restart()
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid,
                                   hidden={"transaction_id": txid})["sid"]
    name, message = result(client.approve,
                           {"transaction-id": txid, "timeout-ms": KEY_ERROR_WITHIN_MS})
    assert name == ERR_FAILED, (name, message)
    assert "2 items with different keys for factor %s" % factor.sid in message
    assert emulator.answer_posts(ch) == 0
    name, message = result(client.refresh)
    assert name == ERR_FAILED and "different keys" in message, (name, message)


@pytest.mark.parametrize("edit", ["not a key", "two keys"])
def test_factor_with_unusable_key_can_be_deleted(edit, factor, daemon, client, emulator,
                                                 session):
    """Factor.Delete of a factor whose key items hold no usable key removes it here, with
    the items, as for a key that is gone (the DELETE can't be signed: the remote factor
    stays for the backend). Before, every Delete failed on the key: the factor could not
    be removed at all."""
    item = the_item(session, factor)
    if edit == "not a key":
        create_item(session, item["attributes"], b"not a key", replace=True)
    else:
        create_item(session, item["attributes"], openssl_key("P-256"), replace=False)
    daemon.restart()
    client.factor_delete(factor.path)
    assert client.factor_paths() == []
    assert session.keyring_items({"factor-sid": factor.sid}) == []
    daemon.restart()
    assert client.factor_paths() == []


def test_delete_passes_over_a_locked_copy_in_another_collection(factor, daemon, client,
                                                               emulator, session):
    """A copy of a factor's key in another collection the user keeps locked is the user's
    to unlock: the factor's Delete deletes the key vpushd follows and is done. Taken for
    the login keyring locked, the delete of the key was retried (and the crash recovery
    with it, up to an hour apart) for an unlock vpushd never hears of."""
    other = copy_to_new_collection(session, the_item(session, factor), "Other")
    try:
        session._secrets_call(vt.SECRETS_PATH, SERVICE_IFACE, "Lock",
                              GLib.Variant("(ao)", ([other],)))
        client.factor_delete(factor.path)
        assert client.factor_paths() == []
        assert emulator.fetch_factor(factor.identity, factor.sid).status == 404
        # the delete's journal entry goes once the key is deleted
        journal = os.path.join(daemon.state_dir, "enrolling")
        vt.wait_until(lambda: not os.listdir(journal), 10, what="the delete's journal entry "
                      "to go", pump=False)
        assert "stays in the Secret Service" not in daemon.log_text()
        assert client.manager_property("State") == "ready"
        assert [i["path"].startswith(other + "/")
                for i in session.keyring_items({"factor-sid": factor.sid})] == [True]
    finally:
        session._secrets_call(other, "org.freedesktop.Secret.Collection", "Delete")
