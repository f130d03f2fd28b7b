"""One APIRouter per resource; main.py registers them in one list."""
