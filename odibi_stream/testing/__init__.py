"""Test helpers for odibi-stream and its plugins: the contract suites every backend must pass.

A plugin's own tests subclass the suites (needs pytest, the ``dev`` extra)::

    from odibi_stream.testing.contracts import SourceContract, SourceCase

    class TestMySource(SourceContract):
        @pytest.fixture
        def source_case(self, tmp_path):
            return SourceCase(spec=MySourceSpec(...), add=lambda start: produce(...))
"""
