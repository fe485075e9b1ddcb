"""Both languages: every string the code and templates show has a zh-CN translation."""
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


def test_every_message_in_the_source_is_translated_to_chinese(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "N_", "--ignore-dirs", ".venv node_modules instance pwa tests", "-o", str(pot), "."],
                   cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    with (ROOT / "server/translations/zh_Hans_CN/LC_MESSAGES/messages.po").open("rb") as f:
        translated = {m.id for m in read_po(f, locale="zh_CN") if m.id and m.string}
    assert len(wanted) > 40
    assert sorted(wanted - translated) == []


def test_sign_in_page_is_chinese_by_default_and_english_on_request(client):
    zh = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert "登录" in zh and 'lang="zh-CN"' in zh
    en = client.get("/login?lang=en").get_data(as_text=True)
    assert "Sign in" in en and 'lang="en"' in en and "登录" not in en.replace("中文", "")
    # The choice is remembered for the next page.
    again = client.get("/login").get_data(as_text=True)
    assert "Sign in" in again


def test_the_catalogue_passes_the_checks_its_compiler_makes():
    """`pybabel compile` (run by the set-up) refuses a translation whose placeholders do not
    match its source's, e.g. a "%" in the Chinese where the English reads as "% o"."""
    with (ROOT / "server/translations/zh_Hans_CN/LC_MESSAGES/messages.po").open("rb") as f:
        catalog = read_po(f, locale="zh_CN")
    problems = [(message.id, [str(e) for e in errors]) for message, errors in catalog.check()]
    assert problems == []
