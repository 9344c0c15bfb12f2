// The Catch2 main of duet_tests: every unit test file links into this one
// executable (one link instead of many on a 2-core machine).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
