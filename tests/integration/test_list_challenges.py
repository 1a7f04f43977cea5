"""Factor.ListChallenges: items as the contract says, paging, filters, order."""

import pytest

import vpushtest as vt

ITEM_KEYS = {"sid", "status", "message", "fields", "created-at", "expires-at",
             "responded-reason"}


def _all_pages(client, path, options):
    sids, token, pages = [], "", 0
    while True:
        opts = dict(options)
        if token:
            opts["page-token"] = token
        items, token = client.list_challenges(path, opts)
        pages += 1
        assert len(items) <= options.get("page-size", 50)
        sids += [i["sid"] for i in items]
        if not token:
            return sids, pages
        assert pages < 20, "paging does not end"


def test_list_items_and_paging(factor, client, emulator):
    created = []
    for n in range(5):
        created.append(emulator.create_challenge(
            factor.identity, factor.sid, message="Challenge %d" % n,
            fields=[("N", str(n))], hidden={"transaction_id": vt.new_transaction_id()}))
    # approve one so that the status filter has something to do
    assert client.approve({"challenge-sid": created[0]["sid"]}) == created[0]["sid"]

    items, token = client.list_challenges(factor.path, {"page-size": 2})
    assert len(items) == 2 and token != ""
    for it in items:
        assert set(it) == ITEM_KEYS, it
        assert vt.SID_RE["YC"].match(it["sid"])
        assert it["status"] in ("pending", "approved", "denied", "expired")
        assert isinstance(it["fields"], list) and all(len(x) == 2 for x in it["fields"])
        assert vt.RFC3339_RE.match(it["created-at"]) and vt.RFC3339_RE.match(it["expires-at"])
        for k in ITEM_KEYS - {"fields"}:
            assert isinstance(it[k], str), (k, it[k])

    sids, pages = _all_pages(client, factor.path, {"page-size": 2})
    assert pages == 3
    assert sorted(sids) == sorted(c["sid"] for c in created)
    assert len(set(sids)) == 5

    one = [i for i in client.list_challenges(factor.path, {"page-size": 1000})[0]
           if i["sid"] == created[3]["sid"]][0]
    assert one["message"] == "Challenge 3"
    assert one["fields"] == [("N", "3")]
    assert one["status"] == "pending"
    assert one["expires-at"] == created[3]["expiration_date"]

    pending, _ = _all_pages(client, factor.path, {"status": "pending", "page-size": 10})
    assert sorted(pending) == sorted(c["sid"] for c in created[1:])
    approved, _ = _all_pages(client, factor.path, {"status": "approved"})
    assert approved == [created[0]["sid"]]

    asc, _ = _all_pages(client, factor.path, {"order": "asc", "page-size": 3})
    desc, _ = _all_pages(client, factor.path, {"order": "desc", "page-size": 3})
    assert asc == [c["sid"] for c in created]
    assert desc == list(reversed(asc))


# The largest challenge the API makes (protocol doc §12), every character of its message and
# fields a control character, which JSON escapes in six bytes: about 23 KB of JSON
CONTROLS = "".join(chr(c) for c in range(1, 0x20))
LARGEST = {"message": (CONTROLS * 9)[:256], "hidden": {"pad": "p" * 1000},
           "fields": [(("%02d" % i + CONTROLS * 2)[:36], (CONTROLS * 5)[:128])
                      for i in range(20)]}


def test_list_page_larger_than_one_reply(factor, client, emulator):
    """A page-size of up to 1000 is taken (dbus-api.md), and 200 of the largest challenges
    are more than vpushd reads of one reply: such a page is read as API pages of at most
    50, joined, and its token is the last one's. A reply may be 32 KiB a challenge asked
    for: 50 of the largest are more than 1 MiB."""
    created = [emulator.create_challenge(factor.identity, factor.sid, **LARGEST)["sid"]
               for _ in range(220)]
    emulator.clear_requests()
    items, token = client.list_challenges(factor.path, {"page-size": 200})
    assert [i["sid"] for i in items] == created[:200]
    assert all(i["fields"] == LARGEST["fields"] and i["message"] == LARGEST["message"]
               for i in items)
    rest, end = client.list_challenges(factor.path, {"page-size": 200, "page-token": token})
    assert [i["sid"] for i in rest] == created[200:] and end == ""
    lists = [r for r in emulator.requests() if r["method"] == "GET"
             and r["path"].endswith("/Challenges") and "Status=" not in r["query"]]
    sizes = [int(q.split("=")[1]) for r in lists for q in r["query"].split("&")
             if q.startswith("PageSize=")]
    assert sizes == [50, 50, 50, 50, 50], lists


def test_list_page_size_not_a_multiple_of_50(factor, client, emulator):
    """A page-size that is not a multiple of the API's page of 50 gives that many (the
    last API page asks for what is left), and its token leads on to the next one: none
    left out, none twice."""
    created = [emulator.create_challenge(factor.identity, factor.sid)["sid"]
               for _ in range(160)]
    items, token = client.list_challenges(factor.path, {"page-size": 120})
    assert [i["sid"] for i in items] == created[:120]
    rest, end = client.list_challenges(factor.path, {"page-size": 120, "page-token": token})
    assert [i["sid"] for i in rest] == created[120:] and end == ""


def test_list_of_short_pages_makes_as_many_requests_as_full_ones(factor, client, emulator):
    """README: such a call "makes at most as many requests as full pages would take: a
    server giving short pages with a next one each time gets a shorter page back"
    (emulator fault short-page: one item a page, and a next one), with a token to go on."""
    # four API pages of 50 (a page-size of 120 takes three), each cut to one
    for _ in range(160):
        emulator.create_challenge(factor.identity, factor.sid)
    emulator.fault(r"/Entities/%s/Challenges\Z" % factor.identity, "short-page", method="GET",
                   when="after", count=1000)
    emulator.clear_requests()
    try:
        items, token = client.list_challenges(factor.path, {"page-size": 120})
    finally:
        emulator.clear_faults()
    lists = [r for r in emulator.requests() if r["method"] == "GET"
             and r["path"].endswith("/Challenges") and "Status=" not in r["query"]]
    assert len(lists) == 3 and len(items) == 3 and token != "", (lists, items)


def test_empty_page_token_is_the_first_page(factor, client, emulator):
    """An empty page-token (what the last page gives back as next_page_token) asks for
    the first page: no PageToken goes to the API, not an empty one."""
    created = [emulator.create_challenge(factor.identity, factor.sid)["sid"] for _ in range(3)]
    emulator.clear_requests()
    items, end = client.list_challenges(factor.path, {"page-size": 2, "page-token": ""})
    assert [i["sid"] for i in items] == created[:2] and end != ""
    # not the polls' lists of pending challenges (one may follow the enrollment late)
    lists = [r for r in emulator.requests() if r["method"] == "GET"
             and r["path"].endswith("/Challenges") and "Status=" not in r["query"]]
    assert len(lists) == 1 and "PageToken" not in lists[0]["query"], lists


@pytest.fixture
def unlocked_afterwards(session):
    yield
    if session.keyring_locked():
        session.unlock_keyring()


def list_held_at_its_second_page(client, emulator, f):
    """A ListChallenges call of 150 of 120 challenges, the answer to its second API page
    held (read before it is held: a factor deleted meanwhile is still listed)."""
    for _ in range(120):
        emulator.create_challenge(f.identity, f.sid)
    emulator.clear_requests()
    # the poller lists pending challenges newest first: only the call's pages are held
    emulator.fault(r"/Challenges\Z", action="delay", seconds=30, method="GET", when="after",
                   query=r"Order=asc&PageToken=")
    call = vt.PendingCall(client, "ListChallenges", vt.asv({"page-size": 150}), f.path,
                          vt.FACTOR_IFACE)
    vt.wait_until(lambda: client.pump() or emulator.faults_held() == 1, 20,
                  what="the second page held")
    return call


def follow_up_pages(emulator):
    return [r for r in emulator.requests() if r["method"] == "GET"
            and "Order=asc&PageToken=" in r["query"]]


def test_list_pages_end_when_the_keyring_locks(factor, client, emulator, session,
                                               unlocked_afterwards):
    """A lock drops the keys vpushd holds: the pages a call has not asked for yet are not
    asked for (KeyringLocked), the one under way ends as it would."""
    call = list_held_at_its_second_page(client, emulator, factor)
    session.lock_keyring()
    client.wait_state("keyring-locked", timeout=10)
    emulator.clear_faults()
    call.wait(30)
    assert call.error is not None and call.error.name == vt.ERR_KEYRING_LOCKED, call.error
    assert len(follow_up_pages(emulator)) == 1


def test_list_pages_end_when_the_factor_is_deleted(daemon, client, emulator):
    """Nothing more is asked of a factor deleted between two pages of a call."""
    f = vt.enroll(client, emulator)
    call = list_held_at_its_second_page(client, emulator, f)
    client.factor_delete(f.path)
    emulator.clear_faults()
    call.wait(30)
    assert call.error is not None and call.error.name == vt.ERR_NOT_FOUND, call.error
    assert f.sid in call.error.message
    assert len(follow_up_pages(emulator)) == 1


def test_list_empty(factor, client):
    items, token = client.list_challenges(factor.path, {})
    assert items == [] and token == ""


def test_list_bounds_accepted(factor, client, emulator):
    emulator.create_challenge(factor.identity, factor.sid)
    for size in (1, 1000):
        items, _ = client.list_challenges(factor.path, {"page-size": size})
        assert len(items) == 1
