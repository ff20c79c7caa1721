# Sums the summaries `dotnet test` prints, one per test assembly, and prints "passed failed skipped assemblies".
# At the console logger's normal verbosity (the test project's default: it lists each test as it finishes) a
# summary is a block; a count line appears only when it is not zero:
#   Test Run Failed.
#   Total tests: 93
#        Passed: 91
#        Failed: 2
#       Skipped: 0
#    Total time: 21.3 Seconds
# At minimal verbosity (a --logger given on the command line replaces the default) it is one line:
#   Passed!  - Failed:     0, Passed:    93, Skipped:     0, Total:    93, Duration: 21 s - Rwkv.Onnx.Tests.dll (net10.0)
# A build failure prints neither. Input must be free of ANSI colour codes.
{ sub(/\r$/, "") }

/^Total tests: *[0-9]+ *$/ { in_block = 1; n++; next }
in_block && /^ *Passed: *[0-9]+ *$/ { p += $2; next }
in_block && /^ *Failed: *[0-9]+ *$/ { f += $2; next }
in_block && /^ *Skipped: *[0-9]+ *$/ { s += $2; next }
in_block && /^ *Total time:/ { in_block = 0; next }

/(Passed|Failed)!  *- *Failed: *[0-9]+, *Passed: *[0-9]+, *Skipped: *[0-9]+/ {
  line = $0
  match(line, /Failed: *[0-9]+/);  f += substr(line, RSTART + 7, RLENGTH - 7)
  match(line, /Passed: *[0-9]+/);  p += substr(line, RSTART + 7, RLENGTH - 7)
  match(line, /Skipped: *[0-9]+/); s += substr(line, RSTART + 8, RLENGTH - 8)
  n++
}

END { printf "%d %d %d %d\n", p, f, s, n }
