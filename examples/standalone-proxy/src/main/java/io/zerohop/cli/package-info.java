/**
 * The {@code zerohop} command line (picocli): {@code proxy} (the node proxy), {@code connect},
 * {@code ca}, {@code policy} and {@code demo}. An application, not a library: no API.
 */
package io.zerohop.cli;
