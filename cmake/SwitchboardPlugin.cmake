# switchboard_add_plugin(NAME SOURCES src... [LIBS lib...] [OUTPUT_DIRECTORY dir] [NO_INSTALL])
#
# Builds the plugin libswitchboard-NAME.so: a module linked against Switchboard::sdk that
# exports only its entry point (SWITCHBOARD_PLUGIN), written to OUTPUT_DIRECTORY (default
# SWITCHBOARD_PLUGIN_OUTPUT_DIR, else <build>/plugins: pass that to `switchboard --plugins`)
# and installed into SWITCHBOARD_PLUGIN_INSTALL_DIR (default <libdir>/switchboard/plugins,
# where an installed bus finds it) unless NO_INSTALL.
include_guard(GLOBAL)
include(GNUInstallDirs)

function(switchboard_add_plugin name)
  cmake_parse_arguments(PLUGIN "NO_INSTALL" "OUTPUT_DIRECTORY" "SOURCES;LIBS" ${ARGN})
  if(NOT PLUGIN_SOURCES)
    message(FATAL_ERROR "switchboard_add_plugin(${name}): SOURCES is empty")
  endif()
  if(NOT PLUGIN_OUTPUT_DIRECTORY)
    if(SWITCHBOARD_PLUGIN_OUTPUT_DIR)
      set(PLUGIN_OUTPUT_DIRECTORY ${SWITCHBOARD_PLUGIN_OUTPUT_DIR})
    else()
      set(PLUGIN_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/plugins)
    endif()
  endif()
  set(install_dir ${SWITCHBOARD_PLUGIN_INSTALL_DIR})
  if(NOT install_dir)
    set(install_dir ${CMAKE_INSTALL_LIBDIR}/switchboard/plugins)
  endif()
  set(target switchboard-${name})
  add_library(${target} MODULE ${PLUGIN_SOURCES})
  target_link_libraries(${target} PRIVATE Switchboard::sdk ${PLUGIN_LIBS})
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "switchboard-${name}"
    LIBRARY_OUTPUT_DIRECTORY ${PLUGIN_OUTPUT_DIRECTORY}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    INSTALL_RPATH "$ORIGIN/../..")
  # The project's own plugins build with its warnings as errors; others choose their own.
  if(COMMAND switchboard_warnings)
    switchboard_warnings(${target})
  endif()
  if(NOT PLUGIN_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION ${install_dir})
  endif()
endfunction()
