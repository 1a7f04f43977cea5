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
    assert asc == list(reversed(desc))


def test_list_empty(factor, client):
    items, token = client.list_challenges(factor.path, {})
    assert items == [] and token == ""


def test_list_bounds_accepted(factor, client, emulator):
    emulator.create_challenge(factor.identity, factor.sid)
    for size in (1, 1000):
        items, _ = client.list_challenges(factor.path, {"page-size": size})
        assert len(items) == 1
