"""The report files of ``ssmrl.output``: the CSV writer's columns and empty cells, JSON round trips, number texts
and the Agg figure helper."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ssmrl.output import count_text, figure, number_text, read_json, save_figure, slug, write_csv, write_json


def test_csv_columns_and_empty_cells(tmp_path):
    rows = [{"model": "s5", "mse": 0.25, "x": float("nan"), "y": float("inf"), "n": 3, "ok": True, "run_dir": "r"},
            {"model": "gru", "extra": "a,b", "x": np.float32("nan"), "y": -np.inf, "n": np.int64(7), "none": None}]
    path = write_csv(rows, tmp_path / "sub" / "t.csv", first=("task", "model"), drop=("run_dir",))
    assert path == tmp_path / "sub" / "t.csv"
    # first columns (even "task", which no row has), then the rest in first-seen order, run_dir dropped; NaN, inf,
    # None and a missing key -> an empty cell; values as str() ("a,b" quoted by the csv module)
    assert path.read_bytes() == (b"task,model,mse,x,y,n,ok,extra,none\r\n"
                                 b",s5,0.25,,,3,True,,\r\n"
                                 b',gru,,,,7,,"a,b",\r\n')


def test_csv_without_rows_or_options(tmp_path):
    assert write_csv([], tmp_path / "e.csv").read_bytes() == b"\r\n"  # csv's line ends: \r\n
    assert write_csv([{"b": 1, "a": 2}, {"c": 3}], tmp_path / "u.csv").read_bytes() == b"b,a,c\r\n1,2,\r\n,,3\r\n"


def test_json_round_trip_and_bad_files(tmp_path):
    data = {"a": [1, 2.5], "b": {"c": None}}
    path = write_json(tmp_path / "deep" / "d.json", data)
    assert path.read_text() == json.dumps(data, indent=2) + "\n" and read_json(path) == data
    assert not (tmp_path / "deep" / "d.tmp").exists()  # written through a temporary file, then renamed
    (tmp_path / "list.json").write_text("[1]")
    (tmp_path / "bad.json").write_text("{")
    assert read_json(tmp_path / "list.json") == read_json(tmp_path / "bad.json") == read_json(tmp_path / "no") == {}


def test_json_writes_non_finite_numbers_as_null(tmp_path):
    data = {"nan": float("nan"), "inf": [float("-inf"), np.float32("nan")], "ok": (np.float32(0.5), np.int64(3)),
            "flag": True}
    text = write_json(tmp_path / "s.json", data).read_text()
    assert "NaN" not in text and "Infinity" not in text
    strict = json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in {text}"))
    assert strict == {"nan": None, "inf": [None, None], "ok": [0.5, 3], "flag": True}


@pytest.mark.parametrize(("value", "spec", "text"), [
    (0.123456, ".3g", "0.123"), (2, ".1f", "2.0"), (1234.5, ",.0f", "1,234"), (np.float64(0.5), ".2f", "0.50"),
    (float("nan"), ".3g", "-"), (float("inf"), ".1f", "-"), (None, ".3g", "-"), ("x", ".3g", "-"), (True, ".3g", "-"),
])
def test_number_text(value, spec, text):
    assert number_text(value, spec) == text


def test_count_text_and_slug():
    assert [count_text(n) for n in (950, 9999, 12345, 2.5e6, float("nan"), None, True)] == \
        ["950", "9999", "12.3k", "2.50M", "-", "-", "-"]
    assert slug("meta/popgym/MultiarmedBanditEasy") == "meta_popgym_MultiarmedBanditEasy"


def test_figure_size_and_save(tmp_path):
    fig = figure(2.0, 1.0, dpi=50)
    fig.subplots().plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "a" / "b.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (100, 50)  # width x height px
    assert figure().get_size_inches().tolist() == [7.0, 4.2] and figure().dpi == 110


def test_import_loads_neither_jax_nor_matplotlib():
    code = "import sys, ssmrl.output; print(sorted({'jax', 'matplotlib'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
