"""The README's first Python example runs and its stated numbers hold."""

from __future__ import annotations

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    p = namespace["p"]
    assert p.total_params == 46764746
    assert p.layer("14").params == 26218496 == 6400 * 4096 + 4096


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    assert 'pip install -e ".[test]" && netcensus' in first_block
    assert "python -m pytest" in first_block
