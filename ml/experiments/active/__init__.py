"""The active-learning simulation on a synthetic new site (``simulate``) and its headroom study (``headroom``)."""
