# Compiles SOURCE, which must fail, and checks the compiler's message holds
# EXPECT: the clear error a user sees for a misuse of the API.
# A source may name its own standard with a line "// std: c++17".
set(std c++20)
file(STRINGS ${SOURCE} std_line REGEX "^// std: ")
if(std_line)
  string(REGEX REPLACE "^// std: " "" std "${std_line}")
endif()
execute_process(
  COMMAND ${COMPILER} -std=${std} -fsyntax-only -I${INCLUDE} ${SOURCE}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
string(FIND "${err}" "${EXPECT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${SOURCE}: the compiler's error does not say \"${EXPECT}\":\n${err}")
endif()
