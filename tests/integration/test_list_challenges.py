"""Factor.ListChallenges: items as the contract says, paging, filters, order."""

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


def test_list_page_larger_than_one_reply(factor, client, emulator):
    """A page-size of up to 1000 is taken (dbus-api.md), and 200 of the largest challenges
    the API makes (protocol doc §12) are more than vpushd reads of one reply (1 MiB): such
    a page is read as API pages of at most 50, joined, and its token is the last one's."""
    fields = [("L%02d" % i + "l" * 33, "v" * 128) for i in range(20)]
    created = [emulator.create_challenge(factor.identity, factor.sid, message="m" * 256,
                                         hidden={"pad": "p" * 1000}, fields=fields)["sid"]
               for _ in range(220)]
    emulator.clear_requests()
    items, token = client.list_challenges(factor.path, {"page-size": 200})
    assert [i["sid"] for i in items] == created[:200]
    assert all(i["fields"] == fields and i["message"] == "m" * 256 for i in items)
    rest, end = client.list_challenges(factor.path, {"page-size": 200, "page-token": token})
    assert [i["sid"] for i in rest] == created[200:] and end == ""
    lists = [r for r in emulator.requests() if r["method"] == "GET"
             and r["path"].endswith("/Challenges") and "Status=" not in r["query"]]
    sizes = [int(q.split("=")[1]) for r in lists for q in r["query"].split("&")
             if q.startswith("PageSize=")]
    assert sizes == [50, 50, 50, 50, 50], lists


def test_list_empty(factor, client):
    items, token = client.list_challenges(factor.path, {})
    assert items == [] and token == ""


def test_list_bounds_accepted(factor, client, emulator):
    emulator.create_challenge(factor.identity, factor.sid)
    for size in (1, 1000):
        items, _ = client.list_challenges(factor.path, {"page-size": size})
        assert len(items) == 1
