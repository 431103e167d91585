# Build settings shared by the core, the plugins and the tests.

# Warnings are errors in the project's own code.
function(switchboard_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
  # GCC 12 at -O3 reports `"text" + std::string` as an overlapping memcpy (GCC bug 105329):
  # kept a warning there, so Release builds do not fail on standard library code.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-error=restrict)
  endif()
endfunction()

if(SWITCHBOARD_SANITIZE)
  # -g1: line tables are all a sanitizer report needs, and they compile faster than full -g.
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g1)
  add_link_options(-fsanitize=address,undefined)
endif()

# Fuzzing: every target gets libFuzzer's coverage instrumentation and the sanitizers, so the
# core library and the plugins the fuzz targets load are guided and checked too; only the
# fuzz targets themselves link libFuzzer's main (-fsanitize=fuzzer, in tests/fuzz).
if(SWITCHBOARD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SWITCHBOARD_FUZZ needs clang for libFuzzer: configure with CC=clang-14 CXX=clang++-14")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# switchboard_add_plugin() is the SDK's: the same function builds the built-in plugins and,
# installed with the CMake package, plugins out of tree.
include(${CMAKE_CURRENT_LIST_DIR}/SwitchboardPlugin.cmake)
