package io.zerohop.policy.internal;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.zerohop.policy.PolicyLoadException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

/** Reads every document of a (multi-document) YAML text into located {@link YNode} trees. */
public final class YamlDocuments {

    private static final YAMLFactory FACTORY = new YAMLFactory();

    private YamlDocuments() {
    }

    public static List<YNode> parse(String file, String yaml) throws PolicyLoadException {
        List<YNode> docs = new ArrayList<>();
        try (JsonParser p = FACTORY.createParser(yaml)) {
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                YNode doc = read(p, t, file, "");
                if (!doc.isNull()) {
                    docs.add(doc);
                }
            }
        } catch (JsonProcessingException e) {
            int line = e.getLocation() == null ? 0 : e.getLocation().getLineNr();
            throw new PolicyLoadException(file, line, "", "invalid YAML: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new PolicyLoadException(file, 0, "", "cannot read: " + e.getMessage(), e);
        }
        return docs;
    }

    private static YNode read(JsonParser p, JsonToken t, String file, String path) throws IOException {
        int line = p.currentTokenLocation().getLineNr();
        switch (t) {
            case START_OBJECT -> {
                YNode node = new YNode(YNode.Type.MAP, file, line, path, null, new LinkedHashMap<>(), null);
                JsonToken k;
                while ((k = p.nextToken()) == JsonToken.FIELD_NAME) {
                    String key = p.currentName();
                    String childPath = path.isEmpty() ? key : path + "." + key;
                    YNode child = read(p, p.nextToken(), file, childPath);
                    node.map.put(key, child);
                }
                if (k != JsonToken.END_OBJECT) {
                    throw new JsonParseFailure("unexpected " + k, p);
                }
                return node;
            }
            case START_ARRAY -> {
                YNode node = new YNode(YNode.Type.LIST, file, line, path, null, null, new ArrayList<>());
                JsonToken v;
                int i = 0;
                while ((v = p.nextToken()) != JsonToken.END_ARRAY) {
                    if (v == null) {
                        throw new JsonParseFailure("unterminated list", p);
                    }
                    node.list.add(read(p, v, file, path + "[" + i++ + "]"));
                }
                return node;
            }
            case VALUE_NULL -> {
                return new YNode(YNode.Type.NULL, file, line, path, null, null, null);
            }
            case VALUE_STRING, VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT, VALUE_TRUE, VALUE_FALSE -> {
                return new YNode(YNode.Type.SCALAR, file, line, path, p.getText(), null, null);
            }
            default -> throw new JsonParseFailure("unexpected token " + t, p);
        }
    }

    private static final class JsonParseFailure extends JsonProcessingException {
        private static final long serialVersionUID = 1L;

        JsonParseFailure(String msg, JsonParser p) {
            super(msg, p.currentLocation());
        }
    }
}
