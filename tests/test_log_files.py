"""open_within and LogFile: confinement, special files, tails cut on characters."""

import os

import pytest

from tethys_compute.log_files import LogFile, OutsideDirectory, open_within


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
