# SPDX-License-Identifier: Apache-2.0
# Writes ctest's list of a GoogleTest binary's test suites, one ctest test per suite (`Suite.*`), at build time.
# Each ctest test is a process, and a process of the test binaries costs 0.4 s to start (1.5 s with ASan+UBSan)
# before its first test: one per suite instead of one per test keeps that cost from dominating the unit tests.
# Arguments (-D): BIN the test binary, OUT the file to write, LABEL the tests' label, TIMEOUT seconds per suite.
execute_process(COMMAND "${BIN}" --gtest_list_tests OUTPUT_VARIABLE listing RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${BIN} --gtest_list_tests failed (${rc}): ${err}")
endif()
string(REPLACE "\n" ";" lines "${listing}")
set(script "")
set(suites 0)
foreach(line IN LISTS lines)
  # A suite's line starts in column one and ends with a dot (a typed suite adds "  # TypeParam = ...").
  if(line MATCHES "^([^ #][^ ]*)\\.( .*)?$")
    set(suite "${CMAKE_MATCH_1}")
    string(APPEND script "add_test([=[${suite}]=] [==[${BIN}]==] [=[--gtest_filter=${suite}.*]=])\n")
    string(APPEND script "set_tests_properties([=[${suite}]=] PROPERTIES LABELS ${LABEL} TIMEOUT ${TIMEOUT})\n")
    math(EXPR suites "${suites} + 1")
  endif()
endforeach()
if(suites EQUAL 0)
  message(FATAL_ERROR "${BIN} lists no test suite")
endif()
file(WRITE "${OUT}" "${script}")
