/** A runnable service with zerohop embedded: accepts tunnels and calls itself through {@code Mesh.socketFactory()}. */
package io.zerohop.example;
