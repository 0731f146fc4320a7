"""Loading collections from CSV and .npy, and every malformed-input error."""
from pathlib import Path

import numpy as np
import pytest

from modelpicker_core.loaders import DataError, load_collection


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text)


@pytest.fixture
def csv_dir(tmp_path):
    """4 items, 3 models, label space (10, -1, 7) written as floats like the original tool's files."""
    write(tmp_path, "predictions.csv",
          "1.000000000000000000e+01,-1,7\n7.000000000000000000e+00,7,7\n-1.000,10,10\n10,10,-1\n")
    write(tmp_path, "oracle.csv", "10\n7\n-1\n10\n")
    write(tmp_path, "labelspace.csv", "10\n-1\n7\n")
    return tmp_path


def test_csv_classes_map_to_indices_in_label_space_order(csv_dir):
    col = load_collection(csv_dir)
    assert col.classes.tolist() == [10, -1, 7]
    assert col.predictions.tolist() == [[0, 1, 2], [2, 2, 2], [1, 0, 0], [0, 0, 1]]
    assert col.labels.tolist() == [0, 2, 1, 0]
    assert (col.n_items, col.n_models, col.n_classes) == (4, 3, 3)
    assert col.class_value(2) == 7 and col.class_index(-1) == 1
    assert col.probabilities is None


def test_labelspace_on_one_line(csv_dir):
    write(csv_dir, "labelspace.csv", "10,-1,7\n")
    assert load_collection(csv_dir).classes.tolist() == [10, -1, 7]


def test_oracle_optional_when_not_required(csv_dir):
    (csv_dir / "oracle.csv").unlink()
    assert load_collection(csv_dir, require_labels=False).labels is None
    with pytest.raises(DataError, match="no oracle.csv or oracle.npy"):
        load_collection(csv_dir)


@pytest.mark.parametrize("name, text, message", [
    pytest.param("predictions.csv", "10,-1,7\n7,7,7\n-1,10\n10,10,-1\n",
                 r"predictions\.csv row 3: 2 values, expected 3", id="ragged_row_names_file_and_row"),
    pytest.param("oracle.csv", "10\n7,7\n-1\n10\n",
                 r"oracle\.csv row 2: 2 values, expected 1", id="ragged_oracle_row"),
    pytest.param("predictions.csv", "10,-1,7\n7,7.5,7\n-1,10,10\n10,10,-1\n",
                 r"predictions\.csv row 2, column 2: '7\.5' is not an integer class",
                 id="non_integer_class_names_file_row_and_column"),
    pytest.param("oracle.csv", "10\n7\nhappy\n10\n",
                 r"oracle\.csv row 3: 'happy' is not a number", id="non_number"),
    pytest.param("oracle.csv", "10\n7\n-1\n",
                 r"oracle\.csv has 3 rows but predictions\.csv has 4", id="length_mismatch_names_both_files"),
    pytest.param("predictions.csv", "10,-1,7\n7,7,7\n-1,10,10\n10,3,-1\n",
                 r"predictions\.csv row 4, column 2: class 3 is not in the label space \(10, -1, 7\)",
                 id="prediction_outside_label_space"),
    pytest.param("oracle.csv", "10\n7\n-1\n8\n",
                 r"oracle\.csv row 4: class 8 is not in the label space", id="label_outside_label_space"),
    # values outside int64 (1e30 in predictions.csv gave OverflowError from NumPy)
    pytest.param("predictions.csv", "10,-1,7\n7,1e30,7\n-1,10,10\n10,10,-1\n",
                 r"predictions\.csv row 2, column 2: '1e30' is out of range for a class value",
                 id="float_too_large_for_int64"),
    pytest.param("predictions.csv", "10,-1,7\n7,7,7\n-1,10,99999999999999999999\n10,10,-1\n",
                 r"predictions\.csv row 3, column 3: '99999999999999999999' is out of range",
                 id="integer_text_too_large_for_int64"),
    pytest.param("oracle.csv", "10\n7\n-1e19\n10\n",
                 r"oracle\.csv row 3: '-1e19' is out of range", id="negative_too_large"),
    pytest.param("labelspace.csv", "10,-1,7,1e300\n",
                 r"labelspace\.csv row 1: '1e300' is out of range", id="labelspace_on_one_line"),
])
def test_malformed_file_names_file_row_and_problem(csv_dir, name, text, message):
    write(csv_dir, name, text)
    with pytest.raises(DataError, match=message):
        load_collection(csv_dir)


def test_missing_predictions_and_labelspace(tmp_path, csv_dir):
    with pytest.raises(DataError, match="no predictions.csv or predictions.npy"):
        load_collection(_empty(tmp_path))
    (csv_dir / "labelspace.csv").unlink()
    with pytest.raises(DataError, match="no labelspace.csv or labelspace.npy"):
        load_collection(csv_dir)


def _empty(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match="is not a directory"):
        load_collection(tmp_path / "absent")


def test_blank_line_inside_and_duplicate_class(csv_dir):
    write(csv_dir, "oracle.csv", "10\n\n-1\n10\n")
    with pytest.raises(DataError, match=r"oracle\.csv row 2: blank line"):
        load_collection(csv_dir)
    write(csv_dir, "oracle.csv", "10\n7\n-1\n10\n\n\n")  # trailing blank lines are fine
    assert load_collection(csv_dir).n_items == 4
    write(csv_dir, "labelspace.csv", "10\n-1\n7\n10\n")
    with pytest.raises(DataError, match="class 10 is listed more than once"):
        load_collection(csv_dir)


def test_npy_collection_infers_label_space_and_reads_probabilities(tmp_path):
    preds = np.array([[0, 2], [2, 2], [5, 0]], dtype=float)
    np.save(tmp_path / "predictions.npy", preds)
    np.save(tmp_path / "oracle.npy", np.array([0, 2, 5]))
    probs = np.full((3, 2, 3), 1 / 3)
    np.save(tmp_path / "probabilities.npy", probs)
    col = load_collection(tmp_path)
    assert col.classes.tolist() == [0, 2, 5]
    assert col.predictions.tolist() == [[0, 1], [1, 1], [2, 0]]
    assert col.probabilities.shape == (3, 2, 3)


def test_npy_errors_name_file_and_row(tmp_path):
    np.save(tmp_path / "predictions.npy", np.array([[0, 1], [1, 0.5]]))
    np.save(tmp_path / "oracle.npy", np.array([0, 1]))
    with pytest.raises(DataError, match=r"predictions\.npy row 2, column 2: 0\.5 is not an integer class"):
        load_collection(tmp_path)
    np.save(tmp_path / "predictions.npy", np.array([0, 1]))
    with pytest.raises(DataError, match=r"predictions\.npy: expected a 2-D array"):
        load_collection(tmp_path)
    np.save(tmp_path / "predictions.npy", np.array([[0, 1], [1, 0]]))
    np.save(tmp_path / "oracle.npy", np.array([0, 1, 1]))
    with pytest.raises(DataError, match=r"oracle\.npy has 3 rows but predictions\.npy has 2"):
        load_collection(tmp_path)
    np.save(tmp_path / "oracle.npy", np.array([0, 1]))
    np.save(tmp_path / "labelspace.npy", np.array([0, 1]))
    np.save(tmp_path / "predictions.npy", np.array([[0, 1], [1, 4]]))
    with pytest.raises(DataError, match=r"predictions\.npy row 2, column 2: class 4 is not in the label space"):
        load_collection(tmp_path)


def test_probabilities_checked(tmp_path):
    np.save(tmp_path / "predictions.npy", np.array([[0, 1], [1, 0]]))
    np.save(tmp_path / "oracle.npy", np.array([0, 1]))
    np.save(tmp_path / "probabilities.npy", np.zeros((2, 2, 3)))
    with pytest.raises(DataError, match=r"probabilities\.npy: shape \(2, 2, 3\), expected .* = \(2, 2, 2\)"):
        load_collection(tmp_path)
    bad = np.full((2, 2, 2), 0.5)
    bad[1, 0, 1] = 1.5
    np.save(tmp_path / "probabilities.npy", bad)
    with pytest.raises(DataError, match=r"probabilities\.npy row 2, model 1, class 2: 1\.5 is not a probability"):
        load_collection(tmp_path)


def test_csv_and_npy_together_is_ambiguous(csv_dir):
    np.save(csv_dir / "predictions.npy", np.zeros((4, 3)))
    with pytest.raises(DataError, match="both predictions.csv and predictions.npy"):
        load_collection(csv_dir)


def test_integer_text_is_read_exactly_beyond_float_precision(csv_dir):
    big = 2**53 + 1  # float(big) == 2**53: a float parse would merge it with 2**53
    write(csv_dir, "labelspace.csv", f"{big}\n{2**53}\n")
    write(csv_dir, "predictions.csv", f"{big},{2**53}\n{2**53},{big}\n")
    write(csv_dir, "oracle.csv", f"{big}\n{big}\n")
    col = load_collection(csv_dir)
    assert col.classes.tolist() == [big, 2**53]
    assert col.predictions.tolist() == [[0, 1], [1, 0]]


def test_npy_values_outside_int64(tmp_path):
    np.save(tmp_path / "oracle.npy", np.array([0, 1]))
    np.save(tmp_path / "predictions.npy", np.array([[0, 1], [1, 1e30]]))
    with pytest.raises(DataError, match=r"predictions\.npy row 2, column 2: 1e\+30 is out of range for a class value"):
        load_collection(tmp_path)
    np.save(tmp_path / "predictions.npy", np.array([[0, 1], [2**64 - 1, 1]], dtype=np.uint64))
    with pytest.raises(DataError, match=r"predictions\.npy row 2, column 1: 18446744073709551615 is out of range"):
        load_collection(tmp_path)
    np.save(tmp_path / "predictions.npy", np.array([[0, 1], [1, 0]], dtype=np.uint64))
    assert load_collection(tmp_path).predictions.tolist() == [[0, 1], [1, 0]]


def test_non_utf8_csv_names_file_row_and_expected_encoding(csv_dir):
    """Issue 12: a Latin-1 file gave a bare codec error without the file name."""
    (csv_dir / "oracle.csv").write_bytes(b"10\n7\n-1 caf\xe9\n10\n")
    with pytest.raises(DataError, match=r"oracle\.csv row 3: byte 0xe9 is not UTF-8 text; the CSV files must be UTF-8"):
        load_collection(csv_dir)


def test_utf8_byte_order_mark_is_accepted(csv_dir):
    """Spreadsheets save "CSV UTF-8" with a byte-order mark; it is not part of the first value."""
    (csv_dir / "predictions.csv").write_bytes(b"\xef\xbb\xbf" + (csv_dir / "predictions.csv").read_bytes())
    assert load_collection(csv_dir).predictions.tolist()[0] == [0, 1, 2]


def test_csv_field_over_the_csv_module_limit_is_a_data_error(csv_dir):
    write(csv_dir, "oracle.csv", "10\n7\n" + "1" * 200_000 + "\n10\n")
    with pytest.raises(DataError, match=r"oracle\.csv row 3: not a CSV row \(field larger than field limit"):
        load_collection(csv_dir)


def test_a_header_row_is_named_as_such(csv_dir):
    write(csv_dir, "predictions.csv", "model_a,model_b,model_c\n10,-1,7\n7,7,7\n-1,10,10\n")
    with pytest.raises(DataError, match=r"predictions\.csv row 1, column 1: 'model_a' is not a number "
                                        r"\(the files have no header row"):
        load_collection(csv_dir)
    write(csv_dir, "predictions.csv", "10,-1,7\nx,7,7\n-1,10,10\n10,10,-1\n")
    with pytest.raises(DataError, match=r"row 2, column 1: 'x' is not a number$"):
        load_collection(csv_dir)
