# The application's own sitecustomize.py, shipped in its packages folder: the instrumentation's
# sitecustomize.py comes first on sys.path and must still run this one.
import sys

sys.application_sitecustomize_ran = True
