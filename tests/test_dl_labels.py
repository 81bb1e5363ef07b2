"""Model label names -> spinemets anatomy ids (spinemets.dl.labels)."""

import json

import pytest

from spinemets import anatomy
from spinemets.dl.labels import dataset_label_names, load_label_mapping, map_model_labels
from spinemets.errors import InputError


def test_names_in_every_accepted_convention():
    names = {0: "background", 1: "vertebrae_L1", 2: "T12", 3: "vertebra-L5", 4: "L1 vertebra",
             5: "Erector_Spinae_Left", 6: "Right psoas major", 7: "vertebrae_S1", 8: "sacrum",
             9: "rib_left_12", 10: "C7"}
    m = map_model_labels(names)
    assert m == {1: anatomy.vertebra_id("L1"), 2: anatomy.vertebra_id("T12"),
                 3: anatomy.vertebra_id("L5"), 4: anatomy.vertebra_id("L1"),
                 5: anatomy.BY_NAME["erector_spinae_left"].id,
                 6: anatomy.BY_NAME["psoas_major_right"].id,
                 7: anatomy.SACRUM_ID, 8: anatomy.SACRUM_ID,
                 9: anatomy.BY_NAME["rib_left_12"].id, 10: anatomy.vertebra_id("C7")}


def test_totalsegmentator_total_names_match_the_anatomy_converter():
    # TotalSegmentator "total" ids 25..50 with their class names, as in its map_to_binary.py
    ts = {25: "sacrum", 26: "vertebrae_S1"}
    levels = list(reversed(anatomy.CERVICAL + anatomy.THORACIC + anatomy.LUMBAR))
    ts.update({27 + i: f"vertebrae_{lv}" for i, lv in enumerate(levels)})
    assert map_model_labels(ts) == anatomy.TOTALSEG_TOTAL_TO_SPINEMETS


def test_unknown_names_are_listed_in_one_error():
    with pytest.raises(InputError) as e:
        map_model_labels({0: "background", 1: "L1", 2: "kidney_left", 3: "autochthon_left"})
    msg = str(e.value)
    assert "2:kidney_left" in msg and "3:autochthon_left" in msg and "L1" not in msg.split(":")[0]


def test_user_mapping_dict_and_file(tmp_path):
    names = {0: "background", 1: "autochthon_left", 2: "spinal_cord", 3: "vertebra_1"}
    mapping = {"autochthon_left": "erector_spinae_left", "spinal_cord": None, "vertebra_1": "L3"}
    expected = {1: anatomy.BY_NAME["erector_spinae_left"].id, 3: anatomy.vertebra_id("L3")}
    assert map_model_labels(names, mapping) == expected
    f = tmp_path / "map.json"
    f.write_text(json.dumps(mapping))
    assert map_model_labels(names, f) == expected
    assert load_label_mapping(f) == mapping


def test_mapping_target_must_be_an_anatomy_name():
    with pytest.raises(InputError, match="not spinemets anatomy names: x -> vertebrae_L9"):
        map_model_labels({1: "x"}, {"x": "vertebrae_L9"})


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"a": 3}'])
def test_bad_mapping_files(tmp_path, content):
    f = tmp_path / "m.json"
    f.write_text(content)
    with pytest.raises(InputError):
        map_model_labels({1: "a"}, f)


def test_missing_mapping_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        map_model_labels({1: "a"}, tmp_path / "none.json")


def test_dataset_json_labels():
    assert dataset_label_names({"labels": {"background": 0, "vertebrae_L1": 1}}) == \
        {0: "background", 1: "vertebrae_L1"}
    with pytest.raises(InputError, match="region-based"):
        dataset_label_names({"labels": {"background": 0, "whole": [1, 2]}})
    with pytest.raises(InputError, match="no 'labels'"):
        dataset_label_names({})
