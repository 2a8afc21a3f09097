#!/bin/sh
exec java ${JAVA_OPTS:-} -jar /opt/zerohop/zerohop.jar "$@"
