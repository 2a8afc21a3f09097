package io.zerohop.policy.internal;

import io.zerohop.policy.PolicyLoadException;
import io.zerohop.policy.PolicyRef;
import io.zerohop.policy.PolicyRef.Kind;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Turns YAML texts into one {@link CompiledPolicies}; any error aborts the whole load. */
public final class Loader {

    private static final Logger LOG = LoggerFactory.getLogger(Loader.class);
    private static final Set<String> TOP_KEYS = Set.of("apiVersion", "kind", "metadata", "spec", "specs", "status");
    private static final Pattern DNS_NAME = Pattern.compile("[a-z0-9]([-a-z0-9.]*[a-z0-9])?");

    private final CompiledPolicies.Builder out = new CompiledPolicies.Builder();
    private final Set<String> seen = new HashSet<>();
    private final Set<String> skippedKinds = new HashSet<>();

    /** Policy files of a directory: {@code *.yaml}, {@code *.yml}, {@code *.json}, not hidden, sorted by name. */
    public static List<Path> policyFiles(Path dir) throws IOException {
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String name = p.getFileName().toString();
                if (!name.startsWith(".") && (name.endsWith(".yaml") || name.endsWith(".yml") || name.endsWith(".json"))
                        && Files.isRegularFile(p)) {
                    files.add(p);
                }
            }
        }
        files.sort((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString()));
        return files;
    }

    public static CompiledPolicies loadFiles(List<Path> files) throws PolicyLoadException {
        Loader l = new Loader();
        for (Path f : files) {
            String text;
            try {
                text = Files.readString(f, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new PolicyLoadException(f.toString(), 0, "", "cannot read: " + e.getMessage(), e);
            }
            l.addText(f.toString(), text);
        }
        return l.finish();
    }

    public static CompiledPolicies loadString(String name, String yaml) throws PolicyLoadException {
        Loader l = new Loader();
        l.addText(name, yaml);
        return l.finish();
    }

    private CompiledPolicies finish() {
        CompiledPolicies c = out.build();
        for (String w : c.warnings()) {
            LOG.warn(w);
        }
        return c;
    }

    private void addText(String file, String yaml) throws PolicyLoadException {
        for (YNode doc : YamlDocuments.parse(file, yaml)) {
            addDocument(doc);
        }
    }

    private void addDocument(YNode doc) throws PolicyLoadException {
        doc.requireMap();
        String kind = doc.text("kind", "");
        String apiVersion = doc.text("apiVersion", "");
        if (kind.equals("List") && apiVersion.equals("v1")) {
            // kubectl get -o yaml output wraps objects in a List.
            YNode items = doc.get("items");
            if (items != null) {
                for (YNode item : items.items()) {
                    addDocument(item);
                }
            }
            return;
        }
        Kind k = switch (kind) {
            case "AuthorizationPolicy" -> isIstio(apiVersion) ? Kind.AUTHORIZATION_POLICY : null;
            case "PeerAuthentication" -> isIstio(apiVersion) ? Kind.PEER_AUTHENTICATION : null;
            case "CiliumNetworkPolicy" -> apiVersion.equals("cilium.io/v2") ? Kind.CILIUM_NETWORK_POLICY : null;
            case "CiliumClusterwideNetworkPolicy" ->
                    apiVersion.equals("cilium.io/v2") ? Kind.CILIUM_CLUSTERWIDE_NETWORK_POLICY : null;
            default -> null;
        };
        if (k == null) {
            String what = (apiVersion.isEmpty() ? "?" : apiVersion) + " " + (kind.isEmpty() ? "?" : kind);
            if (skippedKinds.add(what)) {
                out.warn(doc.file + ":" + doc.line + ": skipped unsupported kind " + what);
            }
            return;
        }
        doc.onlyKeys(TOP_KEYS);
        YNode meta = doc.get("metadata");
        if (meta == null) {
            throw doc.error("metadata.name is required");
        }
        meta.requireMap();
        YNode nameNode = meta.get("name");
        if (nameNode == null || nameNode.text().isEmpty()) {
            throw meta.error("metadata.name is required");
        }
        String name = nameNode.text();
        if (!DNS_NAME.matcher(name).matches()) {
            throw nameNode.error("bad name \"" + name + "\" (lower-case DNS subdomain)");
        }
        boolean clusterwide = k == Kind.CILIUM_CLUSTERWIDE_NETWORK_POLICY;
        // kubectl applies namespaced objects without metadata.namespace to "default".
        String namespace = clusterwide ? "" : meta.text("namespace", "default");
        if (!clusterwide && !DNS_NAME.matcher(namespace).matches()) {
            throw meta.get("namespace").error("bad namespace \"" + namespace + "\"");
        }
        if (!seen.add(k + "/" + namespace + "/" + name)) {
            throw nameNode.error("duplicate " + k.displayName() + " " + (clusterwide ? name : namespace + "/" + name));
        }
        PolicyRef ref = new PolicyRef(k, namespace, name, "");
        YNode spec = doc.get("spec");
        if (doc.has("specs") && k != Kind.CILIUM_NETWORK_POLICY && k != Kind.CILIUM_CLUSTERWIDE_NETWORK_POLICY) {
            throw doc.get("specs").error("unknown field");
        }
        switch (k) {
            case AUTHORIZATION_POLICY -> out.add(IstioCompiler.authorizationPolicy(ref, namespace, spec));
            case PEER_AUTHENTICATION -> out.add(PeerAuthn.compile(ref, namespace, spec));
            default -> {
                String ns = clusterwide ? null : namespace;
                List<YNode> specs = new ArrayList<>();
                if (spec != null) {
                    specs.add(spec);
                }
                if (doc.get("specs") != null) {
                    specs.addAll(doc.get("specs").items());
                }
                if (specs.isEmpty()) {
                    throw doc.error("spec or specs is required");
                }
                boolean first = true;
                for (YNode s : specs) {
                    out.add(CiliumCompiler.compile(ref, ns, s, out.warnings()), first);
                    first = false;
                }
            }
        }
    }

    private static boolean isIstio(String apiVersion) {
        return apiVersion.equals("security.istio.io/v1") || apiVersion.equals("security.istio.io/v1beta1");
    }
}
