#!/usr/bin/python3
"""deploy/check_size.py's quick scan: it must send every file that may hold a
function over the limit to clang-tidy (a miss would let one through CI), and
should spare files whose long brace pairs are only namespaces and classes."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "deploy"))
import check_size  # noqa: E402

LIMIT = check_size.MAX_FUNCTION_LINES


def body(n, indent="  "):
    return "".join("%sx += %d;\n" % (indent, i) for i in range(n))


class QuickScanTest(unittest.TestCase):
    def scan(self, text):
        with tempfile.NamedTemporaryFile("w", suffix=".cc", delete=False) as f:
            f.write(text)
        try:
            return check_size.may_hold_long_function(f.name)
        finally:
            os.unlink(f.name)

    def test_a_function_one_line_over_the_limit_is_sent(self):
        self.assertTrue(self.scan("int f() {\n" + body(LIMIT + 1) + "}\n"))

    def test_a_function_ten_lines_under_the_limit_is_spared(self):
        self.assertFalse(self.scan("int f() {\n" + body(LIMIT - 11) + "}\n"))
        self.assertTrue(self.scan("int f() {\n" + body(LIMIT - 9) + "}\n"))

    def test_long_namespaces_and_classes_of_short_functions_are_spared(self):
        short = "int f%d() {\n" + body(10) + "}\n"
        members = "".join(("  " + short) % i for i in range(20))
        text = ("namespace strata {\nnamespace {\n" + "".join(short % i for i in range(20)) +
                "}  // namespace\n" + "template <typename T>\nclass Big : public Base {\n public:\n" +
                members + "};\nstruct S {\n" + members + "};\nenum class E {\n" +
                "".join("  k%d,\n" % i for i in range(150)) + "};\n}  // namespace strata\n")
        self.assertFalse(self.scan(text))

    def test_a_long_member_function_inside_a_class_is_sent(self):
        self.assertTrue(self.scan("class C {\n void f() {\n" + body(LIMIT + 5) + " }\n};\n"))

    def test_a_long_lambda_or_test_body_is_sent(self):
        self.assertTrue(self.scan("auto g = [&](int a) {\n" + body(LIMIT + 5) + "};\n"))
        self.assertTrue(self.scan("TEST(A, B) {\n" + body(LIMIT + 5) + "}\n"))

    def test_braces_in_comments_strings_and_literals_do_not_hide_a_long_function(self):
        noise = ('  // }\n  /* } */\n  s = "}";\n  c = \'}\';\n  n = 0xf0\'4e57;\n'
                 '  r = R"x(})x";\n')
        self.assertTrue(self.scan("int f() {\n" + noise + body(LIMIT + 1) + "}\n"))

    def test_a_test_body_over_the_limit_is_reported_by_the_scan_itself(self):
        # clang-tidy never reports gtest bodies, so the scan must.
        with tempfile.NamedTemporaryFile("w", suffix=".cc", delete=False) as f:
            f.write("TEST_F(Fixture, Long) {\n" + body(LIMIT + 1) + "}\n" +
                    "TEST(Suite, AtTheLimit) {\n" + body(LIMIT) + "}\n")
        try:
            found = check_size.long_test_bodies(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(len(found), 1, found)
        self.assertIn(":1: test body of %d lines" % (LIMIT + 1), found[0])

    def test_unbalanced_braces_are_sent_to_clang_tidy(self):
        self.assertTrue(self.scan("int f() {\n  x = 1;\n"))


if __name__ == "__main__":
    unittest.main()
