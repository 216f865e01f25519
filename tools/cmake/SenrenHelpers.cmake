# Helpers that keep each folder's CMakeLists.txt short.
#
#   senren_cc_library(NAME name SRCS ... [HDRS ...] [DEPS ...] [PUBLIC_DEPS ...] [INCLUDES ...]
#                     [TESTONLY])
#   senren_cc_binary(NAME name SRCS ... [DEPS ...])
#   senren_cc_test(NAME name SRCS ... [DEPS ...] LABELS unit|integration|e2e)
#
# Every target gets the project's warnings; tests link GoogleTest/gMock and register
# with CTest under their label, so `ctest -L unit` runs one layer.

set(SENREN_WARNINGS
  -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual -Wold-style-cast
  -Wformat=2 -Wimplicit-fallthrough)
if(SENREN_WERROR)
  list(APPEND SENREN_WARNINGS -Werror)
endif()

function(senren_target_defaults target)
  target_compile_options(${target} PRIVATE ${SENREN_WARNINGS})
  target_compile_features(${target} PUBLIC cxx_std_20)
endfunction()

# Test code is most of the build's compile time (gtest/gmock templates at -O2 with full
# debug info): in RelWithDebInfo it builds at -O1 with line tables only, about half the
# time per file, and keeps file:line in failures and backtraces. Production code and
# benchmarks keep -O2 -g.
function(senren_test_flags target)
  target_compile_options(${target} PRIVATE $<$<CONFIG:RelWithDebInfo>:-O1 -g1>)
endfunction()

function(senren_cc_library)
  cmake_parse_arguments(ARG "TESTONLY" "NAME" "SRCS;HDRS;DEPS;PUBLIC_DEPS;INCLUDES" ${ARGN})
  if(ARG_SRCS)
    add_library(${ARG_NAME} STATIC ${ARG_SRCS} ${ARG_HDRS})
    senren_target_defaults(${ARG_NAME})
    if(ARG_TESTONLY)
      senren_test_flags(${ARG_NAME})
    endif()
    target_link_libraries(${ARG_NAME} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_DEPS})
    if(ARG_INCLUDES)
      target_include_directories(${ARG_NAME} PUBLIC ${ARG_INCLUDES})
    endif()
  else()
    add_library(${ARG_NAME} INTERFACE)
    target_link_libraries(${ARG_NAME} INTERFACE ${ARG_PUBLIC_DEPS} ${ARG_DEPS})
    if(ARG_INCLUDES)
      target_include_directories(${ARG_NAME} INTERFACE ${ARG_INCLUDES})
    endif()
  endif()
endfunction()

function(senren_cc_binary)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  senren_target_defaults(${ARG_NAME})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
  # Daemons and CLIs land in <build>/bin, where tools/lab looks for them.
  set_target_properties(${ARG_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endfunction()

function(senren_cc_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    message(FATAL_ERROR "senren_cc_test(${ARG_NAME}): LABELS unit|integration|e2e is required")
  endif()
  add_executable(${ARG_NAME} ${ARG_SRCS})
  senren_target_defaults(${ARG_NAME})
  senren_test_flags(${ARG_NAME})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest GTest::gmock_main)
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME} --gtest_color=no)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()
