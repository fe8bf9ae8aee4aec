"""Tests of the native GalleryIndex (1:N face-descriptor search)."""

import threading
import time

import numpy as np
import pytest

from app.native import GalleryIndex

DIM = 128
# Gallery size from which one search is split across OpenMP threads.
PARALLEL_ROWS = GalleryIndex.parallel_min_rows


def make_index(ids, vecs, dim=None):
    g = GalleryIndex(dim if dim is not None else vecs.shape[1])
    g.add(np.asarray(ids, dtype=np.int64), vecs)
    return g


def reference(ids, vecs, queries, k):
    """Brute force in float64: (ids, distances) sorted by (distance, id), padded with -1/inf."""
    ids = np.asarray(ids, dtype=np.int64)
    queries = np.atleast_2d(queries)
    m = queries.shape[0]
    out_ids = np.full((m, k), -1, dtype=np.int64)
    out_d = np.full((m, k), np.inf, dtype=np.float64)
    if len(ids) == 0:
        return out_ids, out_d
    g64 = vecs.astype(np.float64)
    for i, q in enumerate(queries.astype(np.float64)):
        d2 = ((g64 - q) ** 2).sum(axis=1)
        order = np.lexsort((ids, d2))[:k]  # by d2, then id
        out_ids[i, : len(order)] = ids[order]
        out_d[i, : len(order)] = np.sqrt(d2[order])
    return out_ids, out_d


def assert_matches_reference(g, ids, vecs, queries, k):
    got_ids, got_d = g.search(queries, k)
    ref_ids, ref_d = reference(ids, vecs, queries, k)
    assert got_ids.dtype == np.int64 and got_d.dtype == np.float32
    assert got_ids.shape == ref_ids.shape == got_d.shape
    np.testing.assert_array_equal(got_ids, ref_ids)
    np.testing.assert_allclose(got_d, ref_d, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- correctness


@pytest.mark.parametrize("n", [1, 3, 100, 1000, 5003, PARALLEL_ROWS + 4999])
@pytest.mark.parametrize("k", [1, 5])
def test_search_matches_numpy_random(n, k):
    rng = np.random.default_rng(1000 + n)
    vecs = rng.standard_normal((n, DIM), dtype=np.float32)
    ids = rng.permutation(10 * n)[:n].astype(np.int64)  # not in row order
    g = make_index(ids, vecs)
    queries = rng.standard_normal((7, DIM), dtype=np.float32)
    queries[0] = vecs[n // 2]  # an exact hit: distance 0
    assert_matches_reference(g, ids, vecs, queries, k)
    got_ids, got_d = g.search(queries[0], k)
    assert got_ids[0, 0] == ids[n // 2] and got_d[0, 0] == 0.0


@pytest.mark.parametrize("n", [500, PARALLEL_ROWS + 1234])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_search_ties_broken_by_smaller_id(n, k):
    # Small integer coordinates: squared distances are exact in float32, so many rows tie
    # exactly and the order must follow the id.
    rng = np.random.default_rng(7 + n + k)
    vecs = rng.integers(-2, 3, size=(n, DIM)).astype(np.float32)
    vecs[n // 3] = vecs[n // 4]  # guaranteed exact duplicates
    ids = rng.permutation(n).astype(np.int64) * 3 + 1
    g = make_index(ids, vecs)
    queries = rng.integers(-2, 3, size=(5, DIM)).astype(np.float32)
    queries[0] = vecs[n // 4]
    got_ids, got_d = g.search(queries, k)
    ref_ids, ref_d = reference(ids, vecs, queries, k)
    np.testing.assert_array_equal(got_ids, ref_ids)
    np.testing.assert_array_equal(got_d, ref_d.astype(np.float32))
    dup = sorted([ids[n // 3], ids[n // 4]])
    if k >= 2:
        assert list(got_ids[0, :2]) == dup


def test_batch_queries_small_gallery_many_queries():
    # m * n above the threshold with a small gallery: queries are split across threads.
    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((600, DIM), dtype=np.float32)
    ids = np.arange(600, dtype=np.int64) * 7
    g = make_index(ids, vecs)
    queries = rng.standard_normal((97, DIM), dtype=np.float32)
    assert_matches_reference(g, ids, vecs, queries, 5)


def test_results_independent_of_thread_count():
    rng = np.random.default_rng(11)
    n = PARALLEL_ROWS * 2 + 17
    vecs = rng.standard_normal((n, DIM), dtype=np.float32)
    g = make_index(np.arange(n), vecs)
    queries = rng.standard_normal((9, DIM), dtype=np.float32)
    results = []
    for threads in (1, 2, 3):
        g.max_threads = threads
        assert g.max_threads == threads
        results.append(g.search(queries, 10))
    for ids_, d_ in results[1:]:
        np.testing.assert_array_equal(ids_, results[0][0])
        np.testing.assert_array_equal(d_, results[0][1])  # bit-identical
    assert_matches_reference(g, np.arange(n), vecs, queries, 10)


@pytest.mark.parametrize("dim", [1, 3, 17, 100])
def test_dims_not_multiple_of_16(dim):
    rng = np.random.default_rng(dim)
    vecs = rng.standard_normal((257, dim), dtype=np.float32)
    ids = np.arange(257, dtype=np.int64)
    g = make_index(ids, vecs)
    assert g.dim == dim
    assert_matches_reference(g, ids, vecs, rng.standard_normal((4, dim), dtype=np.float32), 5)
    np.testing.assert_array_equal(g.get(100), vecs[100])


def test_empty_index_and_k_larger_than_size():
    g = GalleryIndex()
    assert len(g) == 0 and g.dim == DIM
    q = np.ones(DIM, dtype=np.float32)
    ids, d = g.search(q, 3)
    assert ids.shape == (1, 3) and d.shape == (1, 3)
    assert (ids == -1).all() and np.isinf(d).all()

    vecs = np.stack([np.full(DIM, v, dtype=np.float32) for v in (3.0, 1.0)])
    g.add([10, 20], vecs)
    ids, d = g.search(np.ones((2, DIM), dtype=np.float32), 4)
    assert ids.shape == (2, 4)
    np.testing.assert_array_equal(ids, [[20, 10, -1, -1]] * 2)
    np.testing.assert_allclose(d[:, :2], [[0.0, 2 * np.sqrt(DIM)]] * 2, rtol=1e-6)
    assert np.isinf(d[:, 2:]).all()

    ids, d = g.search(np.ones((0, DIM), dtype=np.float32), 2)
    assert ids.shape == (0, 2) and d.shape == (0, 2)


def test_one_d_query_returns_two_d():
    rng = np.random.default_rng(5)
    vecs = rng.standard_normal((50, DIM), dtype=np.float32)
    g = make_index(np.arange(50), vecs)
    ids, d = g.search(vecs[7])
    assert ids.shape == (1, 1) and d.shape == (1, 1)
    assert ids[0, 0] == 7 and d[0, 0] == 0.0


# --------------------------------------------------------------------------- updates


def snapshot(g):
    ids = g.ids()
    return ids, np.stack([g.get(int(i)) for i in ids]) if len(ids) else None


def assert_same_state(g, snap):
    ids, vecs = snap
    np.testing.assert_array_equal(g.ids(), ids)
    assert len(g) == len(ids)
    for i, v in zip(ids, vecs):
        np.testing.assert_array_equal(g.get(int(i)), v)


def test_add_get_contains_len_ids():
    rng = np.random.default_rng(2)
    vecs = rng.standard_normal((5, DIM), dtype=np.float32)
    g = GalleryIndex(DIM)
    g.add(np.array([9, 3, 7], dtype=np.int64), vecs[:3])
    g.add(np.array([1], dtype=np.int32), vecs[3:4])  # other integer widths are fine for ids
    g.add(42, vecs[4])  # a single id with a 1-D vector
    assert len(g) == 5
    np.testing.assert_array_equal(g.ids(), [1, 3, 7, 9, 42])
    assert g.ids().dtype == np.int64
    for i, v in zip([9, 3, 7, 1, 42], vecs):
        assert i in g
        got = g.get(i)
        assert got.dtype == np.float32 and got.shape == (DIM,)
        np.testing.assert_array_equal(got, v)
    assert 2 not in g and np.int64(3) in g and "3" not in g and 2**80 not in g
    with pytest.raises(KeyError):
        g.get(2)


def test_get_returns_a_copy():
    vecs = np.ones((1, DIM), dtype=np.float32)
    g = make_index([1], vecs)
    v = g.get(1)
    v[:] = 5
    np.testing.assert_array_equal(g.get(1), vecs[0])
    vecs[:] = 9  # the index keeps its own copy of added vectors too
    np.testing.assert_array_equal(g.get(1), np.ones(DIM, dtype=np.float32))


def test_add_errors_leave_index_unchanged():
    rng = np.random.default_rng(4)
    vecs = rng.standard_normal((4, DIM), dtype=np.float32)
    g = make_index([1, 2, 3, 4], vecs)
    snap = snapshot(g)
    new = rng.standard_normal((3, DIM), dtype=np.float32)

    with pytest.raises(ValueError, match="already"):
        g.add([10, 11, 2], new)  # 2 exists; 10 and 11 must not be added
    with pytest.raises(ValueError, match="more than once"):
        g.add([10, 11, 10], new)
    with pytest.raises(ValueError, match="negative"):
        g.add([10, -5, 12], new)
    bad = new.copy()
    bad[2, 5] = np.nan
    with pytest.raises(ValueError, match="finite"):
        g.add([10, 11, 12], bad)
    bad[2, 5] = np.inf
    with pytest.raises(ValueError, match="finite"):
        g.add([10, 11, 12], bad)
    with pytest.raises(ValueError, match=r"\(3, 128\)"):
        g.add([10, 11, 12], rng.standard_normal((3, DIM + 1), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        g.add([10, 11], new)  # 2 ids, 3 rows
    with pytest.raises(TypeError, match="float32"):
        g.add([10, 11, 12], new.astype(np.float64))
    with pytest.raises(ValueError, match="contiguous"):
        g.add([10, 11, 12], np.asfortranarray(new))
    with pytest.raises(ValueError, match="contiguous"):
        g.add([10, 11, 12], np.repeat(new, 2, axis=1)[:, ::2])
    with pytest.raises(TypeError, match="float32"):
        g.add([10, 11, 12], new.tolist())
    with pytest.raises(TypeError, match="int"):
        g.add(np.array([10.0, 11.0, 12.0]), new)
    assert_same_state(g, snap)
    assert 10 not in g and 11 not in g and 12 not in g
    assert_matches_reference(g, [1, 2, 3, 4], vecs, new, 4)


def test_replace_semantics_and_errors():
    rng = np.random.default_rng(6)
    vecs = rng.standard_normal((5, DIM), dtype=np.float32)
    g = make_index([1, 2, 3, 4, 5], vecs)
    new = rng.standard_normal((2, DIM), dtype=np.float32)
    g.replace([4, 2], new)
    np.testing.assert_array_equal(g.get(4), new[0])
    np.testing.assert_array_equal(g.get(2), new[1])
    assert len(g) == 5
    expect = vecs.copy()
    expect[3], expect[1] = new[0], new[1]
    assert_matches_reference(g, [1, 2, 3, 4, 5], expect, np.concatenate([vecs, new]), 3)

    snap = snapshot(g)
    with pytest.raises(KeyError, match="99"):
        g.replace([1, 99], new)  # 1 must not be overwritten
    with pytest.raises(ValueError, match="more than once"):
        g.replace([1, 1], new)
    bad = new.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        g.replace([1, 3], bad)
    with pytest.raises(TypeError, match="float32"):
        g.replace([1, 3], new.astype(np.float64))
    with pytest.raises(ValueError, match="shape"):
        g.replace([1, 3], new[:, :64].copy())
    assert_same_state(g, snap)


def test_remove_swaps_with_last_and_search_stays_exact():
    rng = np.random.default_rng(8)
    n = 300
    vecs = rng.standard_normal((n, DIM), dtype=np.float32)
    ids = np.arange(n, dtype=np.int64) + 1000
    g = make_index(ids, vecs)
    keep = np.ones(n, dtype=bool)
    # Remove the first row, the last row, a middle row, absent ids and a repeat.
    assert g.remove(np.array([1000, 1000 + n - 1, 1150, 5, 1150], dtype=np.int64)) == 3
    keep[[0, n - 1, 150]] = False
    assert g.remove(1010) == 1  # a single Python int
    keep[10] = False
    assert g.remove([]) == 0
    assert len(g) == keep.sum()
    np.testing.assert_array_equal(g.ids(), ids[keep])
    for i in ids[keep][::7]:
        np.testing.assert_array_equal(g.get(int(i)), vecs[i - 1000])
    assert_matches_reference(g, ids[keep], vecs[keep], rng.standard_normal((6, DIM), dtype=np.float32), 5)
    # Removed ids can be added again, with new vectors.
    g.add([1000], vecs[5])
    keep[0] = True
    vecs2 = vecs.copy()
    vecs2[0] = vecs[5]
    assert_matches_reference(g, ids[keep], vecs2[keep], vecs[5], 3)
    # Remove everything.
    assert g.remove(g.ids()) == keep.sum()
    assert len(g) == 0
    assert (g.search(vecs[0], 2)[0] == -1).all()


def test_large_churn_matches_reference():
    # Many interleaved adds/removes/replaces across the threading threshold.
    rng = np.random.default_rng(9)
    g = GalleryIndex(DIM)
    state = {}
    next_id = 0
    for step in range(6):
        n_add = PARALLEL_ROWS // 2
        new = rng.standard_normal((n_add, DIM), dtype=np.float32)
        new_ids = np.arange(next_id, next_id + n_add, dtype=np.int64)
        next_id += n_add
        g.add(new_ids, new)
        state.update(zip(new_ids.tolist(), new))
        present = np.fromiter(state.keys(), dtype=np.int64)
        gone = rng.choice(present, size=len(present) // 5, replace=False)
        assert g.remove(gone) == len(gone)
        for i in gone.tolist():
            del state[i]
        present = np.fromiter(state.keys(), dtype=np.int64)
        changed = rng.choice(present, size=100, replace=False)
        repl = rng.standard_normal((100, DIM), dtype=np.float32)
        g.replace(changed, repl)
        state.update(zip(changed.tolist(), repl))
    ids = np.array(sorted(state), dtype=np.int64)
    vecs = np.stack([state[i] for i in ids.tolist()])
    assert len(g) == len(ids) > PARALLEL_ROWS
    np.testing.assert_array_equal(g.ids(), ids)
    queries = rng.standard_normal((5, DIM), dtype=np.float32)
    queries[0] = vecs[len(ids) // 2]
    assert_matches_reference(g, ids, vecs, queries, 5)


def test_search_argument_errors():
    g = make_index([1], np.zeros((1, DIM), dtype=np.float32))
    q = np.zeros(DIM, dtype=np.float32)
    with pytest.raises(TypeError, match="float32"):
        g.search(q.astype(np.float64))
    with pytest.raises(TypeError, match="float32"):
        g.search(q.astype(">f4"))
    with pytest.raises(ValueError, match="contiguous"):
        g.search(np.zeros((4, 2 * DIM), dtype=np.float32)[:, ::2])
    with pytest.raises(ValueError, match=r"\(128,\) or \(m, 128\)"):
        g.search(np.zeros(DIM - 1, dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        g.search(np.zeros((2, 2, DIM), dtype=np.float32))
    with pytest.raises(ValueError, match="k must be"):
        g.search(q, 0)
    bad = q.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        g.search(bad)
    with pytest.raises(ValueError):
        GalleryIndex(0)


# --------------------------------------------------------------------------- threads


def test_concurrent_search_while_updating():
    """One thread searches in a loop while another adds, replaces and removes.

    Every search must see a state between two whole updates:
      * stable ids (fixed vectors near the origin) are always there: a query equal to stable
        vector i returns i first at distance 0, then the other stable ids in a fixed order;
      * a full listing (k > rows) holds every stable and filler id once, no duplicate, and
        the churn ids of the current batch either all or none (add and remove are batches);
      * each churn id only ever holds one of two known vectors, so its distance must match
        one of them (no torn rows).
    """
    rng = np.random.default_rng(12)
    n_stable, n_filler, n_churn, batch = 16, PARALLEL_ROWS + 500, 1000, 200
    stable = rng.standard_normal((n_stable, DIM), dtype=np.float32)
    stable_ids = np.arange(n_stable, dtype=np.int64) * 2 + 1
    filler = rng.standard_normal((n_filler, DIM), dtype=np.float32) + 100.0
    filler_ids = np.arange(n_filler, dtype=np.int64) + 1_000_000
    churn_ids = np.arange(n_churn, dtype=np.int64) + 5_000_000
    churn_a = rng.standard_normal((n_churn, DIM), dtype=np.float32) + 60.0
    churn_b = churn_a + 5.0
    fixed_ids = np.sort(np.concatenate([stable_ids, filler_ids]))

    g = GalleryIndex(DIM)
    g.add(stable_ids, stable)
    g.add(filler_ids, filler)

    k_small = n_stable + 4
    k_full = n_stable + n_filler + batch + 10
    ref_ids, _ = reference(stable_ids, stable, stable, n_stable)
    probe = stable[0]
    da = np.sqrt(((churn_a.astype(np.float64) - probe) ** 2).sum(-1))
    db = np.sqrt(((churn_b.astype(np.float64) - probe) ** 2).sum(-1))

    stop = threading.Event()
    errors = []
    searches = [0]

    def check_full(ids, d):
        valid = ids >= 0
        n_valid = int(valid.sum())
        assert (ids[n_valid:] == -1).all() and np.isinf(d[n_valid:]).all()
        ids, d = ids[:n_valid], d[:n_valid]
        assert ids[0] == stable_ids[0] and d[0] == 0
        same = d[1:] == d[:-1]
        assert ((d[1:] > d[:-1]) | (same & (ids[1:] > ids[:-1]))).all(), "order"
        assert len(np.unique(ids)) == n_valid, "duplicate ids"
        churn = ids[ids >= 5_000_000]
        assert len(churn) in (0, batch), f"partial batch: {len(churn)} churn ids"
        np.testing.assert_array_equal(np.sort(ids[ids < 5_000_000]), fixed_ids)
        if len(churn):
            cd = d[ids >= 5_000_000].astype(np.float64)
            j = churn - 5_000_000
            ok = np.isclose(cd, da[j], rtol=1e-5) | np.isclose(cd, db[j], rtol=1e-5)
            assert ok.all(), "a churn row matches neither of its vectors"

    def searcher():
        try:
            while not stop.is_set():
                ids, d = g.search(stable, k_small)
                np.testing.assert_array_equal(ids[:, :n_stable], ref_ids)
                assert (d[:, 0] == 0).all()
                ids, d = g.search(probe, k_full)
                check_full(ids[0], d[0])
                searches[0] += 1
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)
            stop.set()

    t = threading.Thread(target=searcher)
    t.start()
    updates = 0
    try:
        # at least 3 s of churn, and at least 5 updates and 5 searches however slow a loaded machine
        # makes them (counts in a fixed window would depend on the load); a generous cap on the time
        started = time.monotonic()
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if (elapsed > 3.0 and updates >= 5 and searches[0] >= 5) or elapsed > 120:
                break
            sel = rng.permutation(n_churn)[:batch]
            g.add(churn_ids[sel], churn_a[sel])
            g.replace(churn_ids[sel[:100]], churn_b[sel[:100]])
            g.replace(churn_ids[sel[50:150]], churn_a[sel[50:150]])
            with pytest.raises(ValueError):  # a failed batch must change nothing
                g.add(np.concatenate([churn_ids[sel[:1]] + 10**7, stable_ids[:1]]), churn_a[:2])
            with pytest.raises(KeyError):
                g.replace(np.concatenate([churn_ids[sel[:1]], [8]]), churn_b[:2])  # 8: absent
            assert g.remove(churn_ids[sel]) == batch
            updates += 1
    finally:
        stop.set()
        t.join()
    if errors:
        raise errors[0]
    assert updates >= 5 and searches[0] >= 5
    assert len(g) == n_stable + n_filler


def _count_during_search(g, queries) -> tuple[float, float, list[float]]:
    """Search while a Python thread counts; return (start, end, the counter's time stamps)."""
    stamps = []
    stop = threading.Event()
    started = threading.Event()

    def counter():
        i = 0
        started.set()
        while not stop.is_set():
            i += 1
            if i % 200 == 0:
                stamps.append(time.perf_counter())

    th = threading.Thread(target=counter)
    th.start()
    started.wait()
    try:
        t0 = time.perf_counter()
        g.search(queries, 3)
        t1 = time.perf_counter()
    finally:
        stop.set()
        th.join()
    return t0, t1, stamps


def test_gil_released_during_large_search():
    rng = np.random.default_rng(13)
    n = PARALLEL_ROWS + 20000
    g = make_index(np.arange(n), rng.standard_normal((n, DIM), dtype=np.float32))
    # Size the batch so that the search takes about 0.6 s.
    probe = rng.standard_normal((64, DIM), dtype=np.float32)
    t0 = time.perf_counter()
    g.search(probe, 3)
    per_query = max((time.perf_counter() - t0) / 64, 1e-6)
    m = int(min(max(0.6 / per_query, 64), 50000))
    while True:
        t0, t1, stamps = _count_during_search(g, rng.standard_normal((m, DIM), dtype=np.float32))
        dur = t1 - t0
        if dur > 0.2 or m >= 150000:
            break
        m *= 3  # the sizing run was slowed down by a loaded machine: a longer search
    assert dur > 0.2, "search too fast to observe"
    # With the GIL held the counter could only run at the edges of the call (a switch
    # interval, 5 ms); require it to have advanced throughout the middle of the search.
    inside = [s for s in stamps if t0 + 0.2 * dur < s < t1 - 0.2 * dur]
    assert len(inside) >= 10
    assert max(np.diff([t0 + 0.2 * dur] + inside + [t1 - 0.2 * dur])) < 0.5 * dur
