// Catch2 v2 main for the espgw-ike unit tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
