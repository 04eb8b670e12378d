"""The DPO's review desk: opens a request's sealed review bundle for the DPO, logs who opened it, and
takes the decision on it through the decision jobs (`assets.decisions`); `dsar decide` does the same
from the command line."""
