"""Print the dependencies declared in pyproject.toml, one per line, for a cached Docker layer.

Usage: python pyproject_requirements.py PYPROJECT [EXTRA ...]
Installing these before copying the source keeps the dependency layer cached across code changes.
"""

import sys
import tomllib

with open(sys.argv[1], "rb") as fh:
    project = tomllib.load(fh)["project"]
requirements = list(project.get("dependencies", []))
for extra in sys.argv[2:]:
    requirements += project.get("optional-dependencies", {}).get(extra, [])
print("\n".join(requirements))
