"""open_within and LogFile: confinement, special files, tails cut on characters."""

import os

import pytest

from tethys_compute.log_files import (
    LogFile,
    LogNotAvailable,
    OutsideDirectory,
    open_within,
    text_from,
)


def test_open_within_refuses_every_way_out(tmp_path):
    job = tmp_path / "job"
    (job / "sub").mkdir(parents=True)
    (tmp_path / "secret").write_text("secret")
    (job / "ok.txt").write_text("ok")
    os.symlink(tmp_path / "secret", job / "sub" / "out")
    os.symlink(tmp_path, job / "up")
    (tmp_path / "job-sibling").mkdir()  # shares the job directory's prefix
    (tmp_path / "job-sibling" / "x").write_text("sibling")
    for path in (str(tmp_path / "secret"), "../secret", "sub/out", "up/secret",
                 "sub/../../secret", "../job-sibling/x"):
        with pytest.raises(OutsideDirectory):
            open_within(str(job), path)
    handle, size = open_within(str(job), "sub/../ok.txt")
    with handle:
        assert (handle.read(), size) == (b"ok", 2)


def test_open_within_refuses_directories_and_never_hangs_on_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(IsADirectoryError):
        open_within(str(tmp_path), "fifo")  # a writerless FIFO would block a plain open
    with pytest.raises(IsADirectoryError):
        open_within(str(tmp_path), ".")
    with pytest.raises(FileNotFoundError):
        open_within(str(tmp_path), "missing")


def test_log_file_tail_cuts_on_a_character_and_streams_whole(tmp_path):
    (tmp_path / "log").write_bytes("é".encode() * 10)  # 20 bytes
    log = LogFile("log", lambda: open_within(str(tmp_path), "log"))
    assert log.tail(7) == ("é" * 3, True, 20)
    assert log.tail(100) == ("é" * 10, False, 20)
    chunks, size = log.stream()
    assert size == 20 and b"".join(chunks).decode() == "é" * 10
    assert log() == "é" * 10


# --- reads from an offset (the logs dialog following a running job) --------------------------
def _log(path):
    return LogFile(path.name, lambda: open_within(str(path.parent), path.name))


def test_read_from_an_offset_sends_only_what_was_written_since(tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"line 1\nline 2\n")
    log = _log(path)
    first = log.read_from(None, 1000)  # no offset held yet: the log's end, replacing
    assert first == {"content": "line 1\nline 2\n", "offset": 14, "size": 14, "skipped": 0,
                     "reset": True, "truncated": False}
    assert log.read_from(14, 1000) == {"content": "", "offset": 14, "size": 14, "skipped": 0,
                                       "reset": False, "truncated": False}
    with open(path, "ab") as handle:
        handle.write(b"line 3\n")
    assert log.read_from(14, 1000) == {"content": "line 3\n", "offset": 21, "size": 21,
                                       "skipped": 0, "reset": False, "truncated": False}


def test_read_from_over_the_limit_skips_the_middle_and_says_how_much(tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"old\n" + b"x" * 100 + b"tail\n")
    log = _log(path)
    chunk = log.read_from(4, 10)
    assert chunk["content"] == "xxxxx" + "tail\n" and chunk["offset"] == 109
    assert chunk["skipped"] == 95 and chunk["reset"] is False
    fresh = log.read_from(None, 10)
    assert fresh["content"] == "xxxxxtail\n" and fresh["truncated"] is True and fresh["reset"]


def test_a_log_shorter_than_the_offset_was_truncated_and_is_read_from_its_start(tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"a long first life of the log\n")
    log = _log(path)
    held = log.read_from(None, 1000)["offset"]
    path.write_bytes(b"rotated\n")  # truncated and rewritten (or replaced by a new file)
    chunk = log.read_from(held, 1000)
    assert chunk == {"content": "rotated\n", "offset": 8, "size": 8, "skipped": 0,
                     "reset": True, "truncated": False}
    path.write_bytes(b"")
    assert log.read_from(8, 1000)["reset"] is True and log.read_from(0, 1000)["reset"] is False


def test_read_from_never_splits_a_character(tmp_path):
    path = tmp_path / "out"
    path.write_bytes("é".encode() * 3 + "€".encode()[:2])  # a writer half way through "€"
    log = _log(path)
    chunk = log.read_from(0, 1000)
    assert chunk["content"] == "ééé" and chunk["offset"] == 6  # the half "€" waits
    with open(path, "ab") as handle:
        handle.write("€".encode()[2:] + b"\n")
    assert log.read_from(6, 1000)["content"] == "€\n"
    cut = log.read_from(1, 5)  # the limit's cut falls inside a character: start after it
    assert cut["content"] == "€\n" and cut["skipped"] == 5 and cut["offset"] == 10


def test_read_from_a_log_that_cannot_be_read_says_why_and_keeps_the_offset(tmp_path):
    log = _log(tmp_path / "missing")
    chunk = LogFile("missing", lambda: (_ for _ in ()).throw(LogNotAvailable("not yet")))
    assert chunk.read_from(5, 100) == {"content": "", "offset": 5, "size": 0, "skipped": 0,
                                       "reset": False, "truncated": False,
                                       "unavailable": "not yet"}
    with pytest.raises(FileNotFoundError):  # the opener's own errors are the caller's
        log.read_from(0, 100)


def test_read_from_refuses_bad_offsets_and_limits(tmp_path):
    (tmp_path / "out").write_bytes(b"x")
    log = _log(tmp_path / "out")
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(ValueError):
            log.read_from(bad, 10)
    with pytest.raises(ValueError):
        log.read_from(0, -1)


def test_text_from_reads_a_text_log_from_an_offset():
    text = "héllo\nworld\n"
    assert text_from(text, None, 100)["content"] == text
    assert text_from(text, 7, 100) == {"content": "world\n", "offset": 13, "size": 13,
                                       "skipped": 0, "reset": False, "truncated": False}
    assert text_from(b"ab", 5, 100)["reset"] is True
