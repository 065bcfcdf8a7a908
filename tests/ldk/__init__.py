"""Tests of the ldk implementation (lnh-ldkd); each skips with the reason when it is absent."""
