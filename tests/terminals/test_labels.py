"""Every code terminals/ writes into a record's problems or a terminal's health has a label
(terminals/labels.py), so no screen shows a raw code (issue 10), and the labels are Chinese."""

import re
from pathlib import Path

from django.utils import translation

from terminals import labels

SOURCE = Path(labels.__file__).parent


def _written(pattern: str) -> set[str]:
    codes = set()
    for path in SOURCE.rglob("*.py"):
        codes |= set(re.findall(pattern, path.read_text()))
    return codes


def test_every_record_problem_written_has_a_label():
    written = _written(r'problems\.append\("([a-z_]+)"\)') | _written(r'problems \+ \["([a-z_]+)"\]')
    written -= set(labels.TERMINAL_PROBLEMS)
    assert {"suspected_duplicate", "unknown_operator", "offline_unauthorised"} <= written
    assert written - set(labels.RECORD_PROBLEMS) == set()


def test_every_terminal_health_problem_has_a_label():
    written = set(re.findall(r'problems\.append\("([a-z_]+)"\)', (SOURCE / "selectors" / "registry.py").read_text()))
    assert written and written <= set(labels.TERMINAL_PROBLEMS)


def test_labels_read_in_chinese_and_malformed_fields_too():
    with translation.override("zh-hans"):
        assert labels.record_problems_text(["suspected_duplicate", "unknown_card"]) == "疑似重复扣款、未知卡"
        assert labels.record_problem_label("field:card_type 5") == "记录字段不合规：卡类型 5"
        assert labels.open_exception_label("card_flag:counter_gap") == "卡库不平：卡计数器不连续"
        assert labels.terminal_problems_text(["not_seen", "blocklist_lag"]) == "全天未联机、黑名单版本落后"
        assert labels.record_problem_label("something_new") == "其他问题（something_new）"  # a code added later
