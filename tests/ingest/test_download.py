"""Downloads against a real loopback HTTP server that fails on request."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from warc2gpt.ingest.download import DownloadError, RetryPolicy, download, part_path

FILE = "resiliparse/clueweb-quirk.warc.gz"  # 260 KB real WARC
FAST = RetryPolicy(retries=3, backoff=0.01, backoff_max=0.05, timeout=2.0, chunk_bytes=16384)


def _expected(server, rel: str = FILE) -> bytes:
    return server.content_of(f"/files/{rel}")


def test_clean_download_is_byte_identical(crawl_server, tmp_path):
    dest = tmp_path / "a.warc.gz"
    result = download(crawl_server.file_url(FILE), dest, policy=FAST, progress=False)
    data = _expected(crawl_server)
    assert dest.read_bytes() == data
    assert result.status == "downloaded" and result.attempts == 1
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert not part_path(dest).exists()


def test_503s_are_retried_until_the_file_arrives(crawl_server, tmp_path):
    crawl_server.faults.fail_503 = 2
    dest = tmp_path / "a.warc.gz"
    result = download(crawl_server.file_url(FILE), dest, policy=FAST, progress=False)
    assert dest.read_bytes() == _expected(crawl_server)
    assert result.attempts == 3
    assert [r.status for r in crawl_server.file_requests()] == [503, 503, 200]


def test_gives_up_with_a_clear_message_after_the_configured_retries(crawl_server, tmp_path):
    crawl_server.faults.fail_503 = 100
    dest = tmp_path / "a.warc.gz"
    policy = RetryPolicy(retries=2, backoff=0.01, backoff_max=0.02, timeout=2.0)
    with pytest.raises(DownloadError) as err:
        download(crawl_server.file_url(FILE), dest, policy=policy, progress=False)
    message = str(err.value)
    assert "gave up after 3 attempts" in message and "HTTP 503" in message
    assert FILE in message and "ingest.retries" in message
    assert len(crawl_server.file_requests()) == 3
    assert not dest.exists()


def _waits(crawl_server, tmp_path, policy: RetryPolicy) -> list[float]:
    """The pauses a download of FILE takes between its attempts under `policy`."""
    waits: list[float] = []
    url = crawl_server.file_url(FILE)
    download(url, tmp_path / "a", policy=policy, progress=False, sleep=waits.append)
    return waits


def test_backoff_doubles_and_honours_the_cap(crawl_server, tmp_path):
    crawl_server.faults.fail_503 = 4
    policy = RetryPolicy(retries=5, backoff=0.5, backoff_max=3.0, timeout=2.0)
    assert _waits(crawl_server, tmp_path, policy) == [0.5, 1.0, 2.0, 3.0]


def test_retry_after_is_respected_up_to_the_cap(crawl_server, tmp_path):
    crawl_server.faults.fail_503 = 1
    crawl_server.faults.retry_after = 7
    policy = RetryPolicy(retries=2, backoff=0.5, backoff_max=5.0, timeout=2.0)
    assert _waits(crawl_server, tmp_path, policy) == [5.0]


def test_connection_cut_mid_file_resumes_with_range(crawl_server, tmp_path):
    crawl_server.faults.cuts = 2
    crawl_server.faults.cut_after = 100_000
    dest = tmp_path / "a.warc.gz"
    result = download(crawl_server.file_url(FILE), dest, policy=FAST, progress=False)
    data = _expected(crawl_server)
    assert dest.read_bytes() == data
    log = crawl_server.file_requests()
    # 0..100k cut, 100k..200k cut, then the rest: each attempt asks only for what is missing.
    assert [(r.range, r.status) for r in log] == [
        (None, 200),
        ("bytes=100000-", 206),
        ("bytes=200000-", 206),
    ]
    assert result.fetched_bytes == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_without_range_support_a_cut_download_restarts_cleanly(crawl_server, tmp_path):
    crawl_server.faults.ranges = False
    crawl_server.faults.cuts = 1
    crawl_server.faults.cut_after = 50_000
    dest = tmp_path / "a.warc.gz"
    download(crawl_server.file_url(FILE), dest, policy=FAST, progress=False)
    assert dest.read_bytes() == _expected(crawl_server)  # not 50 KB of it twice
    assert [r.status for r in crawl_server.file_requests()] == [200, 200]


def test_slow_response_times_out_and_is_retried(crawl_server, tmp_path):
    crawl_server.faults.delays = 1
    crawl_server.faults.delay = 1.5
    policy = RetryPolicy(retries=2, backoff=0.01, timeout=0.5)
    dest = tmp_path / "a.warc.gz"
    result = download(crawl_server.file_url(FILE), dest, policy=policy, progress=False)
    assert dest.read_bytes() == _expected(crawl_server)
    assert result.attempts == 2


def test_slow_but_steady_transfer_completes(crawl_server, tmp_path):
    crawl_server.faults.trickle_bytes = 32768
    crawl_server.faults.trickle_interval = 0.02
    dest = tmp_path / "a.warc.gz"
    result = download(crawl_server.file_url(FILE), dest, policy=FAST, progress=False)
    assert dest.read_bytes() == _expected(crawl_server) and result.attempts == 1


def test_announced_digest_is_checked(crawl_server, tmp_path):
    crawl_server.faults.digest = True
    crawl_server.faults.corrupt = True  # body no longer matches the announced sha-256
    dest = tmp_path / "a.warc.gz"
    with pytest.raises(DownloadError, match="sha256 is .* expected"):
        download(crawl_server.file_url(FILE), dest, policy=FAST, progress=False)
    assert not dest.exists() and not part_path(dest).exists()
    crawl_server.faults.corrupt = False
    download(crawl_server.file_url(FILE), dest, policy=FAST, progress=False)
    assert dest.read_bytes() == _expected(crawl_server)


def test_expected_size_and_digest_from_the_source(crawl_server, tmp_path):
    data = _expected(crawl_server)
    good = ("sha256", hashlib.sha256(data).hexdigest())
    dest = tmp_path / "a.warc.gz"
    download(
        crawl_server.file_url(FILE), dest, size=len(data), digest=good, policy=FAST, progress=False
    )
    assert dest.read_bytes() == data
    with pytest.raises(DownloadError, match="the server reports"):
        download(
            crawl_server.file_url(FILE),
            tmp_path / "b",
            size=len(data) + 1,
            policy=FAST,
            progress=False,
        )
    assert not (tmp_path / "b").exists()


def test_existing_complete_file_is_not_fetched_again(crawl_server, tmp_path):
    dest = tmp_path / "a.warc.gz"
    download(crawl_server.file_url(FILE), dest, policy=FAST, progress=False)
    crawl_server.reset()
    result = download(crawl_server.file_url(FILE), dest, policy=FAST, progress=False)
    assert result.status == "skipped" and crawl_server.file_requests() == []


def test_missing_file_fails_at_once(crawl_server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(
            crawl_server.url + "/files/nope.warc.gz", tmp_path / "x", policy=FAST, progress=False
        )
    assert len(crawl_server.file_requests()) == 1


def test_connection_refused_is_retried_then_reported(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on once the socket closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    policy = RetryPolicy(retries=1, backoff=0.01, timeout=1.0)
    with pytest.raises(DownloadError, match="gave up after 2 attempts"):
        download(
            f"http://127.0.0.1:{port}/x.warc.gz",
            tmp_path / "x.warc.gz",
            policy=policy,
            progress=False,
        )
    assert not (tmp_path / "x.warc.gz").exists()


KILLED_DOWNLOAD = """
import sys
from warc2gpt.ingest.download import RetryPolicy, download
download(sys.argv[1], sys.argv[2], policy=RetryPolicy(timeout=10), progress=False)
"""


def test_killed_download_leaves_no_final_file_and_resumes(crawl_server, tmp_path):
    crawl_server.faults.trickle_bytes = 8192
    crawl_server.faults.trickle_interval = 0.05  # ~160 KB/s: the kill lands mid-file
    dest = tmp_path / "a.warc.gz"
    part = part_path(dest)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_DOWNLOAD, crawl_server.file_url(FILE), str(dest)]
    )
    try:
        deadline = time.monotonic() + 20
        while not (part.exists() and part.stat().st_size >= 32768):
            assert proc.poll() is None, "the download ended before it could be killed"
            assert time.monotonic() < deadline, "no bytes arrived"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert not dest.exists(), "a killed download must not leave a file that looks complete"
    kept = part.stat().st_size
    data = _expected(crawl_server)
    assert 0 < kept < len(data)

    crawl_server.reset()
    result = download(crawl_server.file_url(FILE), dest, policy=FAST, progress=False)
    assert dest.read_bytes() == data and not part.exists()
    assert [(r.range, r.status) for r in crawl_server.file_requests()] == [(f"bytes={kept}-", 206)]
    assert result.resumed_from == kept and result.fetched_bytes == len(data) - kept
    assert result.sha256 == hashlib.sha256(data).hexdigest()  # hashed whole, across the resume


def test_fsspec_url_downloads_and_resumes_from_a_part_file(shared_data, tmp_path):
    import fsspec

    data = (shared_data / "warc/dolma/sample-0000.warc.gz").read_bytes()
    fs = fsspec.filesystem("memory")
    fs.pipe("/ingest-dl/sample-0000.warc.gz", data)
    try:
        dest = tmp_path / "sample-0000.warc.gz"
        part_path(dest).write_bytes(data[:70_000])
        result = download(
            "memory://ingest-dl/sample-0000.warc.gz", dest, policy=FAST, progress=False
        )
    finally:
        fs.rm("/ingest-dl", recursive=True)
    assert dest.read_bytes() == data and result.status == "downloaded"
    assert result.resumed_from == 70_000 and result.fetched_bytes == len(data) - 70_000
    assert result.sha256 == hashlib.sha256(data).hexdigest()
