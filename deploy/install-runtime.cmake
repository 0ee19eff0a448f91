# Run by `cmake --install` (deploy/CMakeLists.txt sets the ORCH_PKG_*
# variables first). Installs the example configurations and the systemd
# units with the paths of the prefix being installed to, which may differ
# from the configured one (`cmake --install BUILD --prefix /usr`).

function(orch_abs out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

# GNUInstallDirs' rule for the system configuration directory: /etc for the
# prefixes / and /usr, /etc/opt/X for /opt/X, else PREFIX/etc.
if(CMAKE_INSTALL_PREFIX STREQUAL ORCH_PKG_CONFIGURED_PREFIX)
  set(sysconfdir "${ORCH_PKG_CONFIGURED_SYSCONFDIR}")
elseif(IS_ABSOLUTE "${ORCH_PKG_SYSCONFDIR}")
  set(sysconfdir "${ORCH_PKG_SYSCONFDIR}")
elseif(CMAKE_INSTALL_PREFIX MATCHES "^/(usr/?)?$")
  set(sysconfdir "/${ORCH_PKG_SYSCONFDIR}")
elseif(CMAKE_INSTALL_PREFIX MATCHES "^/opt/")
  set(sysconfdir "/${ORCH_PKG_SYSCONFDIR}${CMAKE_INSTALL_PREFIX}")
else()
  orch_abs(sysconfdir "${ORCH_PKG_SYSCONFDIR}")
endif()
string(REGEX REPLACE "/+$" "" sysconfdir "${sysconfdir}")
orch_abs(bindir "${ORCH_PKG_BINDIR}")
orch_abs(unitdir "${ORCH_PKG_UNITDIR}")
set(confdir "${sysconfdir}/orchestrator")

# The example configurations. An existing file is kept: installing over a
# running host must not replace its configuration (the examples are also in
# share/doc/orchestrator/examples).
foreach(name orchestrator.yaml worker.yaml)
  if(EXISTS "$ENV{DESTDIR}${confdir}/${name}")
    message(STATUS "Keeping existing: $ENV{DESTDIR}${confdir}/${name}")
  else()
    file(INSTALL DESTINATION "${confdir}" TYPE FILE
         FILES "${ORCH_PKG_SOURCE_DIR}/config/${name}")
  endif()
endforeach()

# The units are written for /usr/bin and /etc/orchestrator.
file(MAKE_DIRECTORY "${ORCH_PKG_WORK_DIR}")
foreach(unit orchestratord.service orch-worker@.service)
  file(READ "${ORCH_PKG_SOURCE_DIR}/deploy/systemd/${unit}" text)
  string(REPLACE "=/usr/bin/" "=${bindir}/" text "${text}")
  string(REPLACE "/etc/orchestrator/" "${confdir}/" text "${text}")
  file(WRITE "${ORCH_PKG_WORK_DIR}/${unit}" "${text}")
  file(INSTALL DESTINATION "${unitdir}" TYPE FILE FILES "${ORCH_PKG_WORK_DIR}/${unit}")
endforeach()
