# Makes the shared test helpers in tests/ importable from the fix folders' own tests.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "tests"))
