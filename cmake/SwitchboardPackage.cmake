# What `cmake --install` adds beside the targets (bin/, lib/, the plugins, the SDK headers),
# and the Debian package CPack builds from it: `cpack -G DEB` in the build directory.

# Examples, without what running one in place leaves behind (its data directories and
# databases, the file adapter's dot files, an example plugin's build directory); an example
# named outbox stays.
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DATADIR}/switchboard/examples
  PATTERN ".*" EXCLUDE
  PATTERN "__pycache__" EXCLUDE
  PATTERN "*.db" EXCLUDE
  PATTERN "*.db-*" EXCLUDE
  REGEX "/examples/[^/]+/(inbox|archive|outbox|dead|ledger|answered)$" EXCLUDE
  REGEX "/examples/plugins/[^/]+/build$" EXCLUDE)

file(GLOB switchboard_docs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES README.md LICENSE ${switchboard_docs} DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/switchboard)

# systemd looks in <prefix>/lib/systemd/system for /usr and /usr/local alike, whatever the
# libdir. The package does not enable or start the unit.
install(FILES examples/deploy/switchboard.service DESTINATION lib/systemd/system)

set(CPACK_PACKAGE_NAME switchboard)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Switchboard developers")
set(CPACK_PACKAGE_CONTACT "Switchboard developers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "enterprise service bus: YAML routes between files, REST, SOAP and databases")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Without symbol tables, as Debian ships binaries.
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_PACKAGE_NAME switchboard)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "Switchboard developers")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The body; CPack puts the summary above it as the synopsis, and indents it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "\
Switchboard takes messages from an inbound adapter (file, timer, REST, SOAP, database),
runs them through transforms (headers, filters, templates, JSON, XML and CSV conversion,
jq, XPath, split) and delivers them to one or more outbound adapters, with retries, dead
letters and at-least-once delivery. Every adapter is a plugin.

The package holds the switchboard binary, its core library and plugins, the plugin SDK
headers, examples and a systemd unit (switchboard.service, not enabled).")
# Dependencies from the libraries the binary, the core library and the plugins link
# (dpkg-shlibdeps, from dpkg-dev); libswitchboard itself is in the package.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The postinst creates the `switchboard` system user the unit runs as, with adduser, and
# runs ldconfig as the postinst CPack writes by itself would (its postrm still does).
set(CPACK_DEBIAN_PACKAGE_DEPENDS adduser)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/cmake/debian/postinst)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_GENERATOR DEB)
include(CPack)
