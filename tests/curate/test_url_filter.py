"""URL blocklist: FineWeb's 4.56 M-domain list by default (where it is found, its checksums, its
cached index), the fallback and its warning, the `warc2gpt blocklist` command, the word lists."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from warc2gpt.cli import main as cli_main
from warc2gpt.curate import blocklists
from warc2gpt.curate.blocklists import (
    ENV_DIR,
    FINEWEB_FILES,
    FINEWEB_NAME,
    BlocklistError,
    HashSet,
    find_fineweb,
    install_fineweb,
    stable_hash,
)
from warc2gpt.curate.steps import url_filter as url_filter_module
from warc2gpt.curate.steps.url_filter import (
    URLFilter,
    UrlFilterSettings,
    blocked_lists,
    blocklist_report,
    normalize_url,
)
from warc2gpt.documents import Document
from warc2gpt.ingest.sample import sample_manifest

FINEWEB_FOLDER = "blocklists/datatrove_url_filter_v0_3_0"


def doc(url: str) -> Document:
    return Document(id="x", url=url, text="")


@pytest.fixture
def no_fineweb(tmp_path, monkeypatch):
    """A process that finds FineWeb's list nowhere: empty cache, no variable, no ../shared."""
    monkeypatch.delenv(ENV_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(blocklists, "checkout_root", lambda: None)
    monkeypatch.setattr(blocklists, "_WARNED", set())
    monkeypatch.setattr(url_filter_module, "_LOADED", {})
    return tmp_path


def fineweb_copy(shared_data: Path, folder: Path) -> Path:
    """A folder with FineWeb's layout whose files link to the real ones (no 18 MB copy)."""
    folder.mkdir(parents=True)
    for name in FINEWEB_FILES:
        (folder / name).symlink_to(shared_data / FINEWEB_FOLDER / name)
    return folder


# --------------------------------------------------------------------------- the real list


@pytest.fixture(scope="module")
def fineweb_filter(shared_data):
    """The default URL filter, FineWeb's list found through $WARC2GPT_BLOCKLIST_DIR, and the
    seconds a second process-fresh load takes once its index exists."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_DIR, str(shared_data / FINEWEB_FOLDER))
        URLFilter(UrlFilterSettings())  # builds the index on a first run ever
        url_filter_module._LOADED.clear()
        start = time.perf_counter()
        url_filter = URLFilter(UrlFilterSettings())
        return url_filter, time.perf_counter() - start


def test_real_list_is_the_default_and_loads_in_milliseconds(fineweb_filter, shared_data):
    url_filter, seconds = fineweb_filter
    assert url_filter.report["blocklist"] == "fineweb"
    assert url_filter.report["source"] == str(shared_data / FINEWEB_FOLDER)
    assert url_filter.report["real"] and not url_filter.report["warning"]
    assert len(url_filter.domains) > 4_500_000 and 19_000 < len(url_filter.urls) < 20_000
    assert isinstance(url_filter.domains.hashes.base, np.memmap)  # the index, not a rebuild
    assert url_filter.domains.hashes.nbytes < 40 * 2**20
    assert seconds < 0.5  # ~3 ms on an idle 2-core machine; loose under a loaded CI
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 2 * 2**20  # KiB: under 2 GiB


def test_real_list_decisions(fineweb_filter):
    url_filter, _ = fineweb_filter
    assert url_filter(doc("http://0-1avsex.com/index.html")) == "domain"
    assert url_filter(doc("https://cdn.images.0-1sex.com/a.jpg")) == "domain"  # subdomain
    assert url_filter(doc("https://www.0b1-bofa.org/bofa/")) == "url"  # a listed URL
    assert url_filter(doc("https://0b1-bofa.org/elsewhere")) is None  # its domain is not listed
    assert url_filter(doc("https://en.wikipedia.org/wiki/Web_crawler")) is None
    assert url_filter(doc("https://www.gutenberg.org/ebooks/100")) is None
    assert url_filter(doc("https://example.com/videos/porn/1")) == "banned_word"
    assert url_filter(doc("https://adult-cams-sample.com/blog/x")) == "domain"  # sample domains


def test_real_list_leaves_the_sample_crawl_as_the_sample_list_does(fineweb_filter):
    url_filter, _ = fineweb_filter
    sample_list = URLFilter(UrlFilterSettings(blocklist="builtin"))
    for page in sample_manifest():
        assert url_filter(doc(page.url)) == sample_list(doc(page.url)), page.url


def test_report_reuses_the_loaded_lists(fineweb_filter, shared_data, monkeypatch):
    monkeypatch.setenv(ENV_DIR, str(shared_data / FINEWEB_FOLDER))
    url_filter = URLFilter(UrlFilterSettings())
    monkeypatch.setattr(url_filter_module, "_load_lists", None)  # a second load would fail
    assert blocklist_report(UrlFilterSettings()) == url_filter.report
    assert blocked_lists(UrlFilterSettings()).domains is url_filter.domains
    disabled = blocklist_report(UrlFilterSettings(enabled=False))
    assert disabled["blocklist"] == "none" and disabled["domains"] == 0


# --------------------------------------------------------------------------- where it is found


def test_resolution_order(shared_data, no_fineweb, monkeypatch):
    env = fineweb_copy(shared_data, no_fineweb / "env")
    cache = fineweb_copy(shared_data, no_fineweb / "cache/warc2gpt/blocklists" / FINEWEB_NAME)
    shared = fineweb_copy(shared_data, no_fineweb / "shared/data" / FINEWEB_FOLDER)
    (no_fineweb / "checkout").mkdir()
    monkeypatch.chdir(no_fineweb / "checkout")  # ../shared is beside the working directory

    monkeypatch.setenv(ENV_DIR, str(env))
    assert find_fineweb()[0] == env
    monkeypatch.delenv(ENV_DIR)
    assert find_fineweb()[0] == cache
    for name in FINEWEB_FILES:
        (cache / name).unlink()
    folder, places = find_fineweb()
    assert folder == shared
    assert [p.status for p in places] == ["not set", f"missing {', '.join(FINEWEB_FILES)}", "ok"]
    (shared / "urls.gz").unlink()
    assert find_fineweb()[0] is None


def test_a_folder_whose_checksum_differs_is_skipped(shared_data, no_fineweb, monkeypatch):
    env = fineweb_copy(shared_data, no_fineweb / "env")
    (env / "urls.gz").unlink()
    (env / "urls.gz").write_bytes(b"example.com/not-the-list\n")
    monkeypatch.setenv(ENV_DIR, str(env))
    folder, places = find_fineweb()
    assert folder is None
    assert places[0].status.startswith("urls.gz has sha256 ")


def test_checksums_are_computed_once_per_install(shared_data, no_fineweb, monkeypatch):
    env = fineweb_copy(shared_data, no_fineweb / "env")
    monkeypatch.setenv(ENV_DIR, str(env))
    sha256, hashed = blocklists.file_sha256, []
    monkeypatch.setattr(blocklists, "file_sha256", lambda path: hashed.append(path) or sha256(path))
    assert find_fineweb()[0] == env and len(hashed) == len(FINEWEB_FILES)
    hashed.clear()
    assert find_fineweb()[0] == env and hashed == []  # the marker vouches for unchanged files
    (env / "urls.gz").unlink()
    shutil.copyfile(shared_data / FINEWEB_FOLDER / "urls.gz", env / "urls.gz")  # a new file
    assert find_fineweb()[0] == env and len(hashed) == len(FINEWEB_FILES)


# --------------------------------------------------------------------------- the fallback


def test_fallback_says_so_in_the_report_and_warns_once(no_fineweb, caplog):
    with caplog.at_level(logging.WARNING, logger="warc2gpt.curate.blocklists"):
        url_filter = URLFilter(UrlFilterSettings())
        url_filter_module._LOADED.clear()
        URLFilter(UrlFilterSettings())  # a second chain in the same process
    report = blocklist_report(UrlFilterSettings())
    assert report["blocklist"] == "builtin" and report["real"] is False
    assert report["domains"] == len(url_filter.domains) < 100 and report["urls"] == 0
    assert "FineWeb's URL blocklist was not found" in report["warning"]
    assert "warc2gpt blocklist install" in report["warning"]
    assert [r.getMessage() for r in caplog.records] == [report["warning"]]
    assert url_filter(doc("https://adult-cams-sample.com/x")) == "domain"


def test_chosen_lists_report_no_warning(no_fineweb, tmp_path):
    builtin = blocklist_report(UrlFilterSettings(blocklist="builtin"))
    assert builtin["blocklist"] == "builtin" and not builtin["warning"] and not builtin["real"]
    none = blocklist_report(UrlFilterSettings(blocklist="none"))
    assert (none["blocklist"], none["domains"], none["urls"], none["warning"]) == ("none", 0, 0, "")
    assert (
        URLFilter(UrlFilterSettings(blocklist="none"))(doc("https://adult-cams-sample.com")) is None
    )
    own = tmp_path / "own.txt"
    own.write_text("blocked.example\n")
    custom = blocklist_report(UrlFilterSettings(domain_files=[str(own)]))
    assert custom == {
        "blocklist": "custom",
        "source": str(own),
        "domains": 1,
        "urls": 0,
        "real": True,
        "warning": "",
    }


# --------------------------------------------------------------------------- index and hashing


def test_hashes_are_stable_across_processes():
    code = "from warc2gpt.curate.blocklists import stable_hash; print(stable_hash(b'example.com'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(other.stdout) == stable_hash(b"example.com")
    digest = hashlib.blake2b(b"example.com", digest_size=8).digest()
    assert stable_hash(b"example.com") == int.from_bytes(digest, "little", signed=True)


def test_index_is_rebuilt_when_the_source_changes(no_fineweb):
    listing = no_fineweb / "domains.txt"
    listing.write_text("".join(f"site{i}.example\n" for i in range(8000)))  # over INDEX_MIN_BYTES
    first = HashSet.from_files([listing])
    assert first.index is not None and first.index.is_file()
    assert b"site7999.example" in first and b"new.example" not in first
    again = HashSet.from_files([listing])
    assert again.index == first.index and isinstance(again.hashes.base, np.memmap)

    with listing.open("a") as fh:
        fh.write("new.example\n")
    changed = HashSet.from_files([listing])
    assert changed.index != first.index and not first.index.exists()  # the stale one is gone
    assert b"new.example" in changed and len(changed) == 8001


def test_lists_below_the_index_size_leave_nothing_in_the_cache(no_fineweb):
    listing = no_fineweb / "small.txt"
    listing.write_text("a.example\nb.example\n")
    assert HashSet.from_files([listing]).index is None
    assert not (no_fineweb / "cache").exists()


# --------------------------------------------------------------------------- install and command


def test_install_copies_and_checks(shared_data, no_fineweb):
    source = shared_data / FINEWEB_FOLDER
    installed = install_fineweb(str(source))
    assert installed == no_fineweb / "cache/warc2gpt/blocklists" / FINEWEB_NAME
    assert sorted(p.name for p in installed.iterdir()) == sorted(FINEWEB_FILES)
    assert find_fineweb()[0] == installed


@pytest.fixture
def http_folder():
    """Serves a folder on 127.0.0.1; yields a function from folder to URL."""
    servers = []

    def serve(folder: Path) -> str:
        handler = functools.partial(QuietHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_install_downloads_from_a_url(shared_data, no_fineweb, http_folder):
    installed = install_fineweb(http_folder(shared_data / FINEWEB_FOLDER))
    assert sorted(p.name for p in installed.iterdir()) == sorted(FINEWEB_FILES)
    assert find_fineweb()[0] == installed

    bad = fineweb_copy(shared_data, no_fineweb / "bad")
    (bad / "urls.gz").unlink()
    (bad / "urls.gz").write_bytes(b"tampered\n")
    with pytest.raises(BlocklistError, match="urls.gz: sha256 is .*nothing was installed"):
        install_fineweb(http_folder(bad), no_fineweb / "elsewhere")
    assert not (no_fineweb / "elsewhere").exists()


def test_install_refuses_a_file_whose_checksum_differs(shared_data, no_fineweb, capsys):
    bad = fineweb_copy(shared_data, no_fineweb / "bad")
    (bad / "domains.part03.gz").unlink()
    (bad / "domains.part03.gz").write_bytes(b"tampered\n")
    with pytest.raises(BlocklistError, match="domains.part03.gz: sha256 .* differs"):
        install_fineweb(str(bad))
    assert not (no_fineweb / "cache/warc2gpt/blocklists" / FINEWEB_NAME).exists()

    assert cli_main(["blocklist", "install", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("warc2gpt blocklist install: ") and err.count("\n") == 1
    assert "nothing was installed" in err


def test_command_shows_the_list_in_use(shared_data, no_fineweb, monkeypatch, capsys):
    assert cli_main(["blocklist", "--params", os.devnull]) == 0
    out, err = capsys.readouterr()
    assert "blocklist  builtin" in out and "warning: FineWeb's URL blocklist was not found" in err

    monkeypatch.setenv(ENV_DIR, str(shared_data / FINEWEB_FOLDER))
    assert cli_main(["blocklist", "--params", os.devnull]) == 0
    out, err = capsys.readouterr()
    assert "blocklist  fineweb" in out and f"source     {shared_data / FINEWEB_FOLDER}" in out
    assert "domains    4,5" in out and "urls       19," in out and not err

    args = ["blocklist", "--params", os.devnull, "--set", "curate.url_filter.blocklist=none"]
    assert cli_main(args) == 0
    assert "domains    0" in capsys.readouterr().out


# --------------------------------------------------------------------------- words and URLs


def test_soft_words_need_the_threshold(tmp_path):
    soft = tmp_path / "soft.txt"
    soft.write_text("cheap\npills\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    settings = UrlFilterSettings(
        domain_files=[str(empty)],
        banned_word_files=[str(empty)],
        banned_subword_files=[str(empty)],
        soft_banned_word_files=[str(soft)],
        soft_word_threshold=2,
    )
    url_filter = URLFilter(settings)
    assert url_filter(doc("https://shop.example/cheap-shoes")) is None
    assert url_filter(doc("https://shop.example/cheap-pills")) == "soft_banned_words"


def test_subwords_match_inside_words(tmp_path):
    sub = tmp_path / "sub.txt"
    sub.write_text("casino bonus\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    url_filter = URLFilter(
        UrlFilterSettings(
            domain_files=[str(empty)],
            banned_word_files=[str(empty)],
            banned_subword_files=[str(sub)],
            soft_banned_word_files=[str(empty)],
        )
    )
    assert url_filter(doc("https://x.example/best-casino-bonus-2024")) == "banned_subword"
    assert url_filter(doc("https://x.example/casino-history")) is None


def test_missing_list_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        URLFilter(UrlFilterSettings(domain_files=[str(tmp_path / "nope.txt")]))


def test_normalize_url():
    assert normalize_url("HTTPS://www.Example.com/a/") == b"example.com/a"
