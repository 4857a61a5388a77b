"""Every action has a key, no two share one, keys are remappable and listed in Help."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication

from litlora_desktop.ui.dialogs import SettingsDialog, ShortcutsDialog
from litlora_desktop.ui.settings import AppSettings
from litlora_desktop.ui.shortcuts import ACTIONS, ShortcutMap, normalized
from tests.ui.test_main_window import key

pytestmark = pytest.mark.gui


def test_every_action_has_a_key_and_none_is_shared():
    sm = ShortcutMap()
    assert sm.conflicts() == []
    for aid, spec in ACTIONS.items():
        assert spec.keys, f"{aid} has no key"
        for k in spec.keys:
            assert normalized(k), f"{aid}: {k!r} is not a key Qt understands"


def test_conflict_checker_finds_a_shared_key():
    sm = ShortcutMap()
    sm.set_key("nav.play", "N")  # N is "new object"
    found = sm.conflicts()
    assert found == [("N", ["nav.play", "obj.add"])] or found == [("N", ["obj.add", "nav.play"])]


def test_window_actions_match_the_registry_and_do_not_collide(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    seen: dict[str, str] = {}
    for act in w.findChildren(type(w.actions_by_id["file.open"])):
        for seq in act.shortcuts():
            k = seq.toString(QKeySequence.SequenceFormat.PortableText)
            assert k not in seen, f"{k} is bound to both {seen[k]} and {act.objectName()}"
            seen[k] = act.objectName()
    assert set(w.actions_by_id) == set(ACTIONS)
    assert seen["Space"] == "nav.play" and seen["D"] == "nav.next" and seen["Right"] == "nav.next"


def test_remapped_key_is_used_and_persists(qtbot, window_factory, tiny_model):
    ShortcutMap().set_key("obj.add", "K")
    w = window_factory(tiny_model)
    key(qtbot, w, Qt.Key.Key_K)
    qtbot.waitUntil(lambda: len(w.session.store.objects) == 1)
    key(qtbot, w, Qt.Key.Key_N)  # no longer bound
    qtbot.wait(50)
    assert len(w.session.store.objects) == 1
    assert ShortcutMap().key("obj.add") == "K"
    ShortcutMap().set_key("obj.add", "N")  # back to the default: nothing stored
    assert AppSettings().qs.value("shortcuts/obj.add") is None


def test_help_lists_every_shortcut(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    key(qtbot, w, Qt.Key.Key_F1)
    qtbot.waitUntil(
        lambda: any(isinstance(x, ShortcutsDialog) and x.isVisible() for x in QApplication.topLevelWidgets())
    )
    dlg = next(x for x in QApplication.topLevelWidgets() if isinstance(x, ShortcutsDialog))
    table = dlg.table
    assert table.rowCount() == len(ACTIONS)
    texts = {table.item(r, 1).text(): table.item(r, 2).text() for r in range(table.rowCount())}
    assert texts[ACTIONS["nav.play"].label] == "Space"
    assert "D" in texts[ACTIONS["nav.next"].label]
    dlg.filter.setText("candidate 2")
    visible = [r for r in range(table.rowCount()) if not table.isRowHidden(r)]
    assert [table.item(r, 1).text() for r in visible] == ["Accept candidate 2"]
    dlg.close()


def test_settings_dialog_refuses_a_conflicting_key(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    dlg = w.open_settings()
    assert isinstance(dlg, SettingsDialog)
    ed = dlg.shortcut_table.editors["nav.play"]
    ed.setKeySequence(QKeySequence("N"))
    ed.editingFinished.emit()
    ok = dlg.buttons.button(dlg.buttons.StandardButton.Ok)
    assert not ok.isEnabled()
    assert "N" in dlg.conflict_label.text()
    ed.setKeySequence(QKeySequence("G"))
    ed.editingFinished.emit()
    assert ok.isEnabled()
    dlg.accept()
    assert ShortcutMap().key("nav.play") == "G"
    assert [s.toString() for s in w.actions_by_id["nav.play"].shortcuts()] == ["G"]
