"""Issue 20, "secrets that reached a bundle, an upload or a message": one section per class.

Each class is tested with variants beyond the example that found it, on the redactor (what is
written), the streaming scanner (what is copied or published) and, where the class was seen
end to end, a real snapshot.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner

from ecasrepro import errors
from ecasrepro.capture import png
from ecasrepro.capture.secrets import REDACTED, Redactor, SecretFinding
from ecasrepro.cli import main

TOKEN = "Qx7pL2mN9vR4tY8wZ1bC5dF0gH3jK6"


def scan(redactor: Redactor, data: bytes, size: int | None = None) -> list[SecretFinding]:
    """The streaming scanner's findings, the data fed whole or in pieces of *size*."""
    scanner = redactor.scanner("f")
    step = size or max(1, len(data))
    for i in range(0, len(data), step):
        scanner.feed(data[i : i + step])
    return scanner.findings()


def kinds(redactor: Redactor, text: str) -> set[str]:
    return {kind for _line, kind in redactor.find_in_text(text)}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No token in the environment and an empty config directory of our own."""
    for name in ("B2SHARE_TOKEN", "B2SHARE_TOKEN_FILE", "JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "xdg"
    config.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("ECASREPRO_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    return config


def write_notebook(path: Path, cells: list[Any], metadata: dict[str, Any] | None = None) -> Path:
    notebook = nbformat.v4.new_notebook(cells=cells, metadata=metadata or {})
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, str(path))
    return path


def printed(text: str, source: str = "print(x)") -> Any:
    cell = nbformat.v4.new_code_cell(source, execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return cell


def snapshot(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["snapshot", *args])
    return result.exit_code, result.stderr


def bundle_bytes(bundle: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(bundle.rglob("*")) if p.is_file())


# --- 1. encoded forms: base64, PNG text chunks ---------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "u", "bo", "bob", "alice", "x" * 11])
@pytest.mark.parametrize("urlsafe", [False, True])
def test_base64_of_a_known_token_at_any_alignment(prefix: str, urlsafe: bool) -> None:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    value = "Qx7p+L2m/N9vR4tY8wZ1bC5dF0gH3jK6?"  # "+", "/" and "?" make the two alphabets differ
    redactor = Redactor([value])
    for raw in (f"{prefix}{value}", f"{prefix}:{value}", f"{prefix}{value}trailing bytes"):
        encoded = encode(raw.encode()).decode()
        text = f"Authorization: Basic {encoded}\n" if not urlsafe else f"cookie={encoded}\n"
        assert "known secret value" in kinds(redactor, text)
        assert any(f.kind == "known secret value" for f in scan(redactor, text.encode(), 7))
        cleaned = redactor.redact_text(text)
        assert REDACTED in cleaned and encoded not in cleaned
        assert redactor.find_in_text(cleaned) == []
        # what is left around the marker holds none of the three spellings of the value
        for skip in range(3):
            core = value.encode()[skip:]
            spelled = encode(core[: len(core) // 3 * 3]).decode()
            assert spelled not in cleaned


@pytest.mark.parametrize("userinfo", ["alice:wonderland7", "svc-account:Xy9!pq", "u:" + TOKEN])
def test_basic_auth_header_with_unknown_credentials(userinfo: str) -> None:
    header = "Authorization: Basic " + base64.b64encode(userinfo.encode()).decode()
    redactor = Redactor()
    assert "basic auth credentials" in kinds(redactor, header)
    assert [f.kind for f in scan(redactor, header.encode(), 5)] == ["basic auth credentials"]
    assert redactor.redact_text(header) == f"Authorization: Basic {REDACTED}"


@pytest.mark.parametrize("text", [
    "Basic configuration is explained below.", "Basic dGVzdA==",  # "test": no colon
    "basic " + base64.b64encode(bytes(range(40))).decode(),  # not printable text
])
def test_basic_lookalikes_are_left_alone(text: str) -> None:
    assert Redactor().find_in_text(text) == [] and scan(Redactor(), text.encode()) == []


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(
        ">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def make_png(*text_chunks: tuple[bytes, bytes]) -> bytes:
    """A 4x4 grey PNG with the given (type, body) text chunks before and after the pixels."""
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\0" + bytes([i * 40] * 4) for i in range(4)))
    software = (b"tEXt", b"Software\0matplotlib version3.8.0, https://matplotlib.org/")
    chunks = [(b"IHDR", ihdr), software, *text_chunks[:1], (b"IDAT", pixels),
              *text_chunks[1:], (b"IEND", b"")]
    return png.SIGNATURE + b"".join(_chunk(t, b) for t, b in chunks)


def text_variants(secret: str) -> list[tuple[bytes, bytes]]:
    """The same secret in each kind of PNG text chunk, plain and compressed."""
    data = f"saved by plot.py --token {secret}".encode()
    return [
        (b"tEXt", b"Comment\0" + data),
        (b"zTXt", b"Comment\0\0" + zlib.compress(data)),
        (b"iTXt", b"Comment\0\0\0en\0Kommentar\0" + data),
        (b"iTXt", b"Comment\0\1\0\0\0" + zlib.compress(data)),
    ]


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize("secret", [TOKEN, "access_token=AbC123xyz456qwe"])
def test_png_text_chunks_in_notebook_images_are_dropped(index: int, secret: str) -> None:
    chunk = text_variants(secret)[index]
    image = make_png(chunk)
    encoded = base64.b64encode(image).decode()
    notebook = {
        "metadata": {},
        "cells": [
            {"cell_type": "code", "source": "plot()", "outputs": [
                {"output_type": "display_data", "data": {"image/png": encoded + "\n"},
                 "metadata": {}}]},
            {"cell_type": "markdown", "source": "![a](attachment:a.png)",
             "attachments": {"a.png": {"image/png": encoded}}},
        ],
    }
    redactor = Redactor([TOKEN])
    clean = redactor.redact_json(notebook)
    for value in (clean["cells"][0]["outputs"][0]["data"]["image/png"],
                  clean["cells"][1]["attachments"]["a.png"]["image/png"]):
        data = base64.b64decode(value)
        assert data.startswith(png.SIGNATURE)
        texts = png.text_chunks(data)
        assert [(c.type, c.keyword) for c in texts] == [(b"tEXt", b"Software")]  # kept
        # the pixels and every other chunk are byte for byte the original's
        assert data == image.replace(_chunk(*chunk), b"")
        assert scan(redactor, data) == []
    assert clean["cells"][0]["outputs"][0]["data"]["image/png"].endswith("\n")
    assert redactor.redact_json(clean) == clean
    # an image without secrets is not rewritten
    plain = base64.b64encode(make_png()).decode()
    assert redactor.redact_json({"image/png": plain}) == {"image/png": plain}


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize("size", [None, 1, 3, 17, 64])
def test_png_text_chunks_are_scanned_however_fed(index: int, size: int | None) -> None:
    image = make_png(*[text_variants(TOKEN)[index]] * 2)
    found = scan(Redactor([TOKEN]), image, size)
    assert any("known secret value in a PNG" in f.kind for f in found), found
    assert all(TOKEN not in str(f) for f in found)
    assert scan(Redactor([TOKEN]), make_png(), size) == []


def test_png_text_chunk_too_large_or_broken_is_not_trusted() -> None:
    bomb = b"Comment\0\0" + zlib.compress(b"a" * (png.MAX_TEXT + 10), 9)
    broken = b"Comment\0\0" + b"not zlib at all"
    for body in (bomb, broken):
        image = make_png((b"zTXt", body))
        assert [f.kind for f in scan(Redactor(), image, 4096)] == [
            "text in a PNG zTXt chunk too large or damaged to check"]
        assert png.text_chunks(Redactor().redact_png(image)) == png.text_chunks(make_png())


def test_png_in_notebook_and_as_attachment_agree(tmp_path: Path, clean_env: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The notebook's image loses the chunk; the same file given with -a is refused."""
    monkeypatch.setenv("B2SHARE_TOKEN", TOKEN)
    for index, chunk in enumerate(text_variants(TOKEN)):
        image = make_png(chunk)
        cell = nbformat.v4.new_code_cell("plot()", execution_count=1)
        cell.outputs = [nbformat.v4.new_output(
            "display_data", data={"image/png": base64.b64encode(image).decode()})]
        work = tmp_path / f"w{index}"
        work.mkdir()
        notebook = write_notebook(work / "nb.ipynb", [cell])
        (work / "plot.png").write_bytes(image)
        code, err = snapshot(str(notebook), "-o", str(work / "b"))
        assert code == 0, err
        written = json.loads((work / "b/data/notebook/nb.ipynb").read_text())
        data = base64.b64decode(written["cells"][0]["outputs"][0]["data"]["image/png"])
        assert all(TOKEN.encode() not in (c.text or b"") for c in png.text_chunks(data))
        html = (work / "b/data/notebook/nb.html").read_text()
        assert TOKEN not in html and TOKEN not in bundle_bytes(work / "b").decode("latin-1")
        code, err = snapshot(str(notebook), "-a", str(work / "plot.png"), "-o", str(work / "c"))
        assert code == int(errors.ExitCode.SECRET_FOUND), err
        assert "plot.png" in err and TOKEN not in err and not (work / "c").exists()


# --- 2. common credential formats ----------------------------------------------------------------

CREDENTIALS = [  # (text, kind, the secret part)
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "password or key parameter", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("AWS_SECRET_ACCESS_KEY: 'ab12CD34ef56GH78ij90KL12mn34OP56qr78ST90'",
     "password or key parameter", "ab12CD34ef56GH78ij90KL12mn34OP56qr78ST90"),
    ("aws_access_key_id=AKIAIOSFODNN7EXAMPLE", "AWS access key id", "AKIAIOSFODNN7EXAMPLE"),
    ("key id AKIAZ3XQ5R7T9V1W2Y4B in the log", "AWS access key id", "AKIAZ3XQ5R7T9V1W2Y4B"),
    ("machine example.org login bob password hunter2x", "netrc password", "hunter2x"),
    ("machine urs.earthdata.nasa.gov\n    login jane\n    password Tr0ub4dor&3\n",
     "netrc password", "Tr0ub4dor&3"),
    ("machine h account acct login u port 21 password s3cr3t!!", "netrc password", "s3cr3t!!"),
    ("GH token ghp_" + "A1b2C3d4E5" * 3 + "f6G7h8", "GitHub token",
     "ghp_" + "A1b2C3d4E5" * 3 + "f6G7h8"),
    ("gho_" + "Z9y8X7w6V5" * 4, "GitHub token", "gho_" + "Z9y8X7w6V5" * 4),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRS",
     "GitHub token",
     "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRS"),
    ("CI_JOB: glpat-xYz12AbC34dEf56GhI78", "GitLab token", "glpat-xYz12AbC34dEf56GhI78"),
    ("slack xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx", "Slack token",
     "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("xoxp-42-4242-424242-abcdef0123456789", "Slack token", "xoxp-42-4242-424242-abcdef0123456789"),
    ("login(hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789)", "Hugging Face token",
     "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
    ("openai.api = sk-proj-AbCdEf0123456789GhIjKlMnOpQrStUvWxYz", "OpenAI-style API key",
     "sk-proj-AbCdEf0123456789GhIjKlMnOpQrStUvWxYz"),
    ("'sk-" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7" + "'", "OpenAI-style API key",
     "sk-aB3dE6gH9jK2mN5pQ8sT1vW4yZ7"),
    ('stripe.api_key = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"', "Stripe key",
     "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("rk_test_9bX2mQ7vT4pL8zR1wK6nY3cF", "Stripe key", "rk_test_9bX2mQ7vT4pL8zR1wK6nY3cF"),
    ("twine: pypi-AgEIcHlwaS5vcmcCJGE4ZTQ3ZjYwLTk4YzMtNDYzZC1iNTk4LWI1MjlhMTg5MDE5ZAACKlsz",
     "PyPI token", "pypi-AgEIcHlwaS5vcmcCJGE4ZTQ3ZjYwLTk4YzMtNDYzZC1iNTk4LWI1MjlhMTg5MDE5ZAACKlsz"),
    ('DATABASE_PASSWORD="Xk9#mQ2$vL7pR4tz"', "password or key parameter", "Xk9#mQ2$vL7pR4tz"),
    ("url?key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", "Google API key",
     "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "JSON web token", "eyJzdWIiOiIxMjM0NTY3ODkwIn0"),
    ("jwt: eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UiLCJleHAiOjEzMH0.", "JSON web token",
     "eyJpc3MiOiJqb2UiLCJleHAiOjEzMH0"),
]
NOT_CREDENTIALS = [
    "task-based learning", "sk-learn-tutorial-2023-for-beginners", "hf_hub_download(repo_id)",
    "machine learning password reset", "Enter your login and password below", "ghp_short",
    "AKIAshort", "ASIAN markets", "xoxo-see-you", "y = 'desk-1234567890abcdefghijKLM'",
    "the header is eyJhbGciOi... (base64 of JSON)", "glpat-short", "github_pat_", "AIzaShort",
    'password = "{password}"', "password = '<your password here 1>'", 'token = "********"',
    "desk_live_abc", "sk_live_short",
]


@pytest.mark.parametrize(("text", "kind", "secret"), CREDENTIALS)
def test_credential_formats_are_found_and_redacted(text: str, kind: str, secret: str) -> None:
    redactor = Redactor()
    assert kind in kinds(redactor, "first line\n" + text)
    assert any(f.kind == kind for f in scan(redactor, ("x\n" + text).encode()))
    as_json = json.dumps({"text": ["out:\n", text]}).encode()  # as written in an .ipynb
    assert any(f.kind == kind for f in scan(redactor, as_json, 11))
    cleaned = redactor.redact_text(text)
    assert secret not in cleaned and REDACTED in cleaned
    assert redactor.find_in_text(cleaned) == [] and redactor.redact_text(cleaned) == cleaned
    assert scan(redactor, cleaned.encode()) == []


@pytest.mark.parametrize("text", NOT_CREDENTIALS)
def test_credential_lookalikes_are_left_alone(text: str) -> None:
    redactor = Redactor()
    assert redactor.redact_text(text) == text
    assert scan(redactor, text.encode()) == []


@pytest.mark.parametrize("dense", [False, True])
def test_prefixed_tokens_among_many_separators(dense: bool) -> None:
    """Found from "_"/"-" when those are rare, from their prefixes when they are common."""
    filler = ("snake_case_name - 1 " if dense else "plain words here ") * 3000
    joined, expected = "", set()
    for text, kind, secret in CREDENTIALS:
        joined += filler
        expected.add((joined.count("\n") + text[: text.index(secret)].count("\n") + 1, kind))
        joined += text + "\n"
    found = {(f.line, f.kind) for f in scan(Redactor(), joined.encode(), 65536)}
    assert expected <= found


def test_credentials_in_the_git_patch(tmp_path: Path, clean_env: Path) -> None:
    """``git/uncommitted.patch`` is the diff redacted like every generated file."""
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=a@b.c", "-c", "user.name=A"]
    subprocess.run([*git, "init", "-q"], check=True)
    notebook = write_notebook(repo / "nb.ipynb", [printed("hello\n")])
    (repo / "settings.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    (repo / "settings.py").write_text(
        "x = 1\n" + "\n".join(text for text, _kind, _secret in CREDENTIALS) + "\n")
    code, err = snapshot(str(notebook), "-o", str(tmp_path / "b"))
    assert code == 0, err
    patch = (tmp_path / "b/data/environment/git/uncommitted.patch")
    if not patch.exists():
        patch = next((tmp_path / "b").rglob("uncommitted.patch"))
    written = patch.read_text()
    assert "settings.py" in written
    for _text, _kind, secret in CREDENTIALS:
        assert secret not in written


@pytest.mark.parametrize(("name", "content"), [
    (".netrc", "machine urs.earthdata.nasa.gov login jane password Tr0ub4dor&3\n"),
    (".netrc", "machine a.org\n  login bob\n  password hunter2x\n"),
    ("credentials", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"),
    ("credentials", "[prof]\naws_secret_access_key=ab12CD34ef56GH78ij90KL12mn34OP56qr78ST90\n"),
])
def test_attaching_a_credentials_file_is_refused(tmp_path: Path, clean_env: Path, name: str,
                                                 content: str) -> None:
    notebook = write_notebook(tmp_path / "nb.ipynb", [printed("hello\n")])
    home = tmp_path / "home" / (".aws" if name == "credentials" else "")
    home.mkdir(parents=True, exist_ok=True)
    (home / name).write_text(content)
    code, err = snapshot(str(notebook), "-a", str(home / name), "-o", str(tmp_path / "b"))
    assert code == int(errors.ExitCode.SECRET_FOUND), err
    assert name in err and not (tmp_path / "b").exists()
    for secret in ("Tr0ub4dor", "hunter2x", "wJalrXUtnFEMI", "ab12CD34ef56"):
        assert secret not in err


# --- 3. secret-named variables -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["DB_PASS", "FTP_PASSWD", "MYSQL_PWD", "PASS", "SMTP_PASS_FILE2",
                                  "OPENAI_API_KEY", "MY_KEY", "GOOGLE_CREDENTIALS",
                                  "AZURE_CLIENT_CREDENTIAL", "DB_PASSWORD"])
def test_secret_named_variables(name: str) -> None:
    value = "plain-value-1234"
    redactor = Redactor.from_environment({name: value, "HOME": "/nonexistent"})
    assert redactor.redact_text(f"connecting with {value}") == f"connecting with {REDACTED}"


@pytest.mark.parametrize(("name", "value"), [
    ("PWD", "/home/alice/project"), ("OLDPWD", "/home/alice"), ("COMPASS_HEADING", "north-by-1"),
    ("BYPASS_CACHE", "sometimes12"), ("DB_PASS", "true"), ("MY_KEY", "short"),
])
def test_not_secret_variables(name: str, value: str) -> None:
    redactor = Redactor.from_environment({name: value, "HOME": "/nonexistent"})
    assert redactor.redact_text(f"value {value}") == f"value {value}"


# --- 4. ANSI colour codes in tracebacks ----------------------------------------------------------

ESC_FORMS = ["\x1b", "\\u001b", "\\x1b", "\\033"]


@pytest.mark.parametrize("esc", ESC_FORMS)
@pytest.mark.parametrize("template", [
    'api_token {e}[38;5;241m={e}[39m {e}[38;5;124m"{v}"{e}[39m',
    '{e}[0;32mpassword{e}[0m{e}[0;34m = {e}[0m{e}[0;31m\'{v}\'{e}[0m',
    "secret_key{e}[38;5;241m:{e}[39m {v}",
    'token={e}[1m{v}{e}[0m',
])
def test_ansi_colour_codes_do_not_hide_an_assignment(esc: str, template: str) -> None:
    value = "abcdef123456ghijk"
    text = "----> 1 " + template.format(e=esc, v=value) + "\n"
    redactor = Redactor()
    assert redactor.find_in_text(text) != []
    assert value not in redactor.redact_text(text)
    assert scan(redactor, text.encode(), 9) != []
    plain = text.replace(esc, "\x1b")
    assert value not in redactor.redact_text(plain)


def test_ansi_traceback_in_a_notebook_output() -> None:
    value = "abcdef123456ghijk"
    traceback = [f'\x1b[0;31mNameError\x1b[0m: api_token \x1b[38;5;241m=\x1b[39m '
                 f'\x1b[38;5;124m"{value}"\x1b[39m']
    cell = {"outputs": [{"output_type": "error", "traceback": traceback}]}
    clean = Redactor().redact_json(cell)
    assert value not in json.dumps(clean)
    assert scan(Redactor(), json.dumps(cell).encode()) != []


# --- 5. ipywidgets Password state ----------------------------------------------------------------


def widget_state(value: str, model: str = "PasswordModel") -> dict[str, Any]:
    return {"application/vnd.jupyter.widget-state+json": {
        "version_major": 2, "version_minor": 0,
        "state": {"a1b2": {"model_name": model, "model_module": "@jupyter-widgets/controls",
                           "model_module_version": "2.0.0",
                           "state": {"_model_name": model, "description": "Password:",
                                     "value": value, "layout": "IPY_MODEL_c3d4"}}}}}


@pytest.mark.parametrize("value", ["hunter2x", "Tr0ub4dor&3 with spaces", "short"])
def test_password_widget_value_is_redacted(value: str) -> None:
    cell = printed(f"you typed {value}\n", "print(pw.value)")
    notebook = {"cells": [cell], "metadata": {"widgets": widget_state(value)}}
    clean = Redactor().redact_json(notebook)
    state = clean["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert state["a1b2"]["state"]["value"] == REDACTED
    assert state["a1b2"]["state"]["description"] == "Password:"
    assert value not in json.dumps(clean)
    # a Text widget keeps its value
    text = {"cells": [], "metadata": {"widgets": widget_state("abc", "TextModel")}}
    assert Redactor().redact_json(text) == text


def test_password_widget_in_a_snapshot(tmp_path: Path, clean_env: Path) -> None:
    value = "Tr0ub4dor&3-typed"
    notebook = write_notebook(tmp_path / "nb.ipynb", [printed("done\n", "pw")],
                              {"widgets": widget_state(value)})
    code, err = snapshot(str(notebook), "-o", str(tmp_path / "b"))
    assert code == 0, err
    assert value.encode() not in bundle_bytes(tmp_path / "b")
    assert "PasswordModel" in (tmp_path / "b/data/notebook/nb.ipynb").read_text()


# --- 6. every configured token is a known secret -------------------------------------------------

CONFIGURED = "cfg7Tok3n-9vR4tY8wZ1bC5dF0gH3jK6mN"


@pytest.mark.parametrize("layer", ["user-token", "user-token-file", "site-token-file",
                                   "env-token-file"])
def test_configured_tokens_are_known(tmp_path: Path, clean_env: Path,
                                     monkeypatch: pytest.MonkeyPatch, layer: str) -> None:
    token_file = tmp_path / "b2share.token"
    token_file.write_text(CONFIGURED + "\n")
    token_file.chmod(0o600)
    user = clean_env / "ecasrepro" / "config.toml"
    user.parent.mkdir()
    site = tmp_path / "site.toml"
    if layer == "user-token":
        user.write_text(f'[b2share]\nserver = "https://b2.example.org"\ntoken = "{CONFIGURED}"\n')
    elif layer == "user-token-file":
        user.write_text(f'[b2share]\ntoken_file = "{token_file}"\n')
    elif layer == "site-token-file":
        site.write_text(f'[b2share]\ntoken_file = "{token_file}"\n')
        monkeypatch.setenv("ECASREPRO_SITE_CONFIG", str(site))
    else:
        monkeypatch.setenv("B2SHARE_TOKEN_FILE", str(token_file))
    redactor = Redactor.from_environment()
    assert redactor.redact_text(f"token is {CONFIGURED}.") == f"token is {REDACTED}."
    # end to end: a notebook that printed it keeps nothing; attaching the token file is refused
    notebook = write_notebook(tmp_path / "nb.ipynb", [printed(f"my token {CONFIGURED}\n")])
    code, err = snapshot(str(notebook), "-o", str(tmp_path / "b"))
    assert code == 0, err
    assert CONFIGURED.encode() not in bundle_bytes(tmp_path / "b")
    code, err = snapshot(str(notebook), "-a", str(token_file), "-o", str(tmp_path / "c"))
    assert code == int(errors.ExitCode.SECRET_FOUND), err
    assert "b2share.token" in err and CONFIGURED not in err


def test_a_broken_config_file_adds_nothing_and_raises_nothing(clean_env: Path) -> None:
    from ecasrepro.config import known_tokens

    user = clean_env / "ecasrepro" / "config.toml"
    user.parent.mkdir()
    user.write_text("[b2share\nnot toml")
    before = known_tokens()
    assert CONFIGURED not in before
    user.write_text('[b2share]\ntoken_file = "/nonexistent/token"\n')
    assert known_tokens() == before


def test_a_token_given_to_the_process_is_known(clean_env: Path) -> None:
    from ecasrepro.config import Secret

    given = "given-by-flag-0123456789abcdef"
    assert Redactor.from_environment().redact_text(given) == given  # not known yet
    Secret(given)  # what resolve_config does with --token-file / token=
    assert Redactor.from_environment().redact_text(given) == REDACTED


# --- 7. error sentences never echo a known secret ------------------------------------------------

ECHOED = "Echo9Tok3n-4tY8wZ1bC5dF0gH3jK6mNqq"


@pytest.fixture(params=["environment", "config file"])
def known_token(request: pytest.FixtureRequest, clean_env: Path,
                monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "environment":
        monkeypatch.setenv("B2SHARE_TOKEN", ECHOED)
    else:
        user = clean_env / "ecasrepro" / "config.toml"
        user.parent.mkdir()
        user.write_text(f'[b2share]\ntoken = "{ECHOED}"\n')
    return ECHOED


def test_error_sentences_hide_known_secrets(known_token: str) -> None:
    from ecasrepro.errors import BadInput, InvalidPID, ServerRefused

    for exc in (BadInput(f"community {known_token!r} is unknown; check it."),
                InvalidPID(f"'{known_token}' is not a Handle, DOI or URL."),
                ServerRefused(message=f"bad value {json.dumps(known_token)}", status=400)):
        shown = str(exc)
        assert known_token not in shown and REDACTED in shown
        assert exc.exit_code != errors.ExitCode.INTERNAL


@pytest.mark.parametrize("case", ["schema", "pid", "community", "usage"])
def test_cli_errors_hide_known_secrets(tmp_path: Path, known_token: str, case: str,
                                       sandbox: Any) -> None:
    notebook = write_notebook(tmp_path / "nb.ipynb", [printed("hello\n")])
    if case == "schema":
        meta = tmp_path / "meta.json"
        meta.write_text(json.dumps({"open_access": known_token}))
        args = ["snapshot", str(notebook), "--metadata", str(meta)]
    elif case == "pid":
        args = ["snapshot", str(notebook), "-i", known_token]
    elif case == "community":
        assert snapshot(str(notebook), "-o", str(tmp_path / "b"))[0] == 0
        args = ["publish", str(tmp_path / "b"), "--server", sandbox.url, "--token-file",
                str(_token_file(tmp_path, sandbox.token)), "--community", known_token,
                "--dry-run"]
    else:
        args = ["publish", str(tmp_path), "--api", known_token]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == (3 if case == "community" else 2), result.output
    assert known_token not in result.output and known_token not in result.stderr
    assert REDACTED in result.stderr
    assert not (tmp_path / "nb.repro").exists()


def _token_file(directory: Path, token: str) -> Path:
    path = directory / "sandbox.token"
    path.write_text(token)
    path.chmod(0o600)
    return path


def test_internal_error_line_hides_known_secrets(known_token: str,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    import ecasrepro.api

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"failed near {known_token}")

    monkeypatch.setattr(ecasrepro.api, "snapshot", boom)
    notebook = write_notebook(tmp_path / "nb.ipynb", [printed("hello\n")])
    result = CliRunner().invoke(main, ["snapshot", str(notebook)])
    assert result.exit_code == int(errors.ExitCode.INTERNAL)
    assert "internal error" in result.stderr and known_token not in result.stderr


# --- the detect-secrets oracle -------------------------------------------------------------------

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "credentials"
# Entropy detectors flag any random-looking string (image data, hashes, ids) and the IP detector
# flags addresses: none of these is a credential by its shape, so they are not our promise.
NOT_CREDENTIAL_DETECTORS = {"Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector"}


def detect_secrets_lines(path: Path) -> set[tuple[int, str]]:
    """(line, type) of everything detect-secrets (default plugins and filters) flags in *path*."""
    detect_secrets = pytest.importorskip("detect_secrets")
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.settings import default_settings

    with default_settings() as settings:
        settings.disable_plugins(*NOT_CREDENTIAL_DETECTORS)
        collection = detect_secrets.SecretsCollection()
        collection.scan_file(str(path))
        assert get_mapping_from_secret_type_to_class()  # the plugins did load
        return {(secret.line_number, secret.type) for _name, secret in collection}


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir()))
def test_everything_detect_secrets_flags_we_flag_too(name: str) -> None:
    from ecasrepro.capture.secrets import scan_file

    path = FIXTURES / name
    theirs = detect_secrets_lines(path)
    ours = {finding.line for finding in scan_file(path, Redactor())}
    assert {line for line, _type in theirs} <= ours, sorted(theirs)
    # redaction leaves nothing that either scanner would flag
    cleaned = Redactor().redact_text(path.read_text())
    assert Redactor().find_in_text(cleaned) == []
    assert scan(Redactor(), cleaned.encode()) == []


def test_the_oracle_is_not_vacuous() -> None:
    flagged = {(p.name, *hit) for p in FIXTURES.iterdir() for hit in detect_secrets_lines(p)}
    assert len(flagged) >= 20
    assert len({kind for _name, _line, kind in flagged}) >= 8  # many detectors, not one


# --- 8. publish checks large trusted files against the tokens known at publish time --------------

MIB = 1024 * 1024


@pytest.mark.parametrize("where", ["start", "across the first chunk boundary", "end"])
def test_publish_stops_a_large_file_holding_a_token_known_only_now(
        tmp_path: Path, clean_env: Path, sandbox: Any, where: str) -> None:
    import ecasrepro

    token = sandbox.token.encode()
    filler = bytes(range(256)) * (3 * MIB // 256)  # binary, 3 MiB: trusted, never re-scanned
    at = {"start": 0, "across the first chunk boundary": MIB - len(token) // 2,
          "end": len(filler) - len(token)}[where]
    data = filler[:at] + token + filler[at + len(token):]
    (tmp_path / "big.bin").write_bytes(data)
    notebook = write_notebook(tmp_path / "nb.ipynb", [printed("hello\n")])
    code, err = snapshot(str(notebook), "-a", str(tmp_path / "big.bin"), "-o",
                         str(tmp_path / "b"))
    assert code == 0, err  # the snapshot did not know that token
    with pytest.raises(errors.SecretFound) as caught:
        ecasrepro.publish(tmp_path / "b", server=sandbox.url, token=sandbox.token,
                          progress=False)
    message = str(caught.value)
    assert "big.bin" in message and sandbox.token not in message
    assert caught.value.exit_code == errors.ExitCode.SECRET_FOUND
    for stored in Path(sandbox.data_dir).rglob("*"):  # the token's bytes never reached it
        if stored.is_file() and "sqlite" not in stored.name:  # (the database holds the users)
            assert token not in stored.read_bytes(), stored


def test_publish_sends_a_large_clean_file_through_the_guard(tmp_path: Path, clean_env: Path,
                                                            sandbox: Any) -> None:
    import ecasrepro

    data = bytes(range(256)) * (3 * MIB // 256) + b"tail"
    (tmp_path / "big.bin").write_bytes(data)
    notebook = write_notebook(tmp_path / "nb.ipynb", [printed("hello\n")])
    assert snapshot(str(notebook), "-a", str(tmp_path / "big.bin"), "-o",
                    str(tmp_path / "b"))[0] == 0
    record = ecasrepro.publish(tmp_path / "b", server=sandbox.url, token=sandbox.token,
                               progress=False)
    assert "outputs/big.bin" in record.uploaded or any("big.bin" in k for k in record.uploaded)


def test_upload_guard_checks_one_chunk_ahead(tmp_path: Path) -> None:
    from ecasrepro.b2share.client import FileBody

    secret = "guard-test-token-0123456789"
    data = b"x" * (MIB - 5) + secret.encode() + b"y" * (2 * MIB)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    redactor = Redactor([secret])
    body = FileBody(path, len(data), known_md5="0" * 32,
                    guard=lambda: redactor.upload_guard("f.bin"))
    sent: list[bytes] = []
    with pytest.raises(errors.SecretFound):
        for chunk in body:
            sent.append(chunk)
    assert secret.encode()[:5] not in b"".join(sent)[-10:]  # the chunk holding its start was held
    assert sent == []  # the secret starts in the first chunk: nothing was sent
    clean = FileBody(path, len(data), known_md5="0" * 32,
                     guard=lambda: Redactor(["absent-value-123456"]).upload_guard("f.bin"))
    assert b"".join(clean) == data
