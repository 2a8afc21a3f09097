/**
 * zerohop as a library user sees it. A JPMS module on purpose: javac then refuses every type the
 * zerohop modules do not export, so this example compiles only against the documented API.
 */
module io.zerohop.example.library {
    // mesh-core requires mesh-hbone, mesh-identity and mesh-policy transitively.
    requires io.zerohop.core;

    exports io.zerohop.example.library;
}
