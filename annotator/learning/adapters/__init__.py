"""One adapter per ML capability: DB rows in, ``ml`` calls, results out. Weights load once per process."""
